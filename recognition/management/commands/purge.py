"""Run the retention policy now (the same task Celery beat runs on its schedule)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from recognition.services.retention import apply_retention


class Command(BaseCommand):
    help = "Purge unknown faces and erase people past their retention date (--dry-run: only report)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="report only, change nothing")

    def handle(self, *args, dry_run: bool, **opts):
        report = apply_retention(dry_run=dry_run)
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
        verb = "would purge" if dry_run else "purged"
        people = len(report.people_consent_ended) + len(report.people_inactive)
        self.stderr.write(self.style.SUCCESS(
            f"{verb}: {report.unknown_faces} unknown face(s), {report.identify_photos} identify photo(s), "
            f"{people} person(s); {len(report.receipts)} receipt(s)"))
