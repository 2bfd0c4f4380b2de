"""Check the access log's hash chain (in the database, or an exported file offline)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recognition.audit import verify_chain
from recognition.services import audit_export


class Command(BaseCommand):
    help = "Check the whole access-log chain and report the first broken entry (exit status 1 if broken)."

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, help="check an exported file (.csv or .jsonl) instead")
        parser.add_argument("--format", choices=audit_export.FORMATS, help="format of --file (by extension)")

    def handle(self, *args, file: Path | None, format: str | None, **opts):
        if file is not None:
            fmt = format or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
            if not file.is_file():
                raise CommandError(f"{file} is not a file")
            with file.open(encoding="utf-8", newline="") as fh:
                report = audit_export.check_export(audit_export.read_export(fh, fmt))
            if report.ok:
                self.stdout.write(self.style.SUCCESS(
                    f"OK: {report.checked} entries, every hash holds; "
                    f"{report.segments} run(s) of consecutive entries, each chained"))
                return
            raise CommandError(f"BROKEN at entry {report.first_broken_id}: {report.reason} "
                               f"({report.checked} entries before it are intact)")
        report = verify_chain()
        audit_export.log_verification(report=report, via="command")
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"OK: {report.checked} entries, the chain is intact"))
            return
        raise CommandError(f"BROKEN at entry {report.first_broken_id}: {report.reason} "
                           f"({report.checked} entries before it are intact)")
