"""Verify an erasure receipt: a downloaded JSON file, or a stored receipt by id."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recognition.models import ErasureReceipt
from recognition.services import erasure


class Command(BaseCommand):
    help = "Check an erasure receipt's HMAC signature (exit status 1 if it does not verify)."

    def add_arguments(self, parser):
        parser.add_argument("receipt", help="a receipt JSON file, or a receipt id")

    def handle(self, *args, receipt: str, **opts):
        path = Path(receipt)
        if path.is_file():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise CommandError(f"{path} is not a JSON receipt: {exc}") from exc
        else:
            try:
                document = ErasureReceipt.objects.filter(pk=uuid.UUID(receipt)).first()
            except ValueError:
                raise CommandError(f"{receipt} is neither a file nor a receipt id") from None
            if document is None:
                raise CommandError(f"no receipt with id {receipt}")
        check = erasure.verify_receipt(document)
        if not check.ok:
            raise CommandError(f"INVALID: {check.reason}")
        self.stdout.write(self.style.SUCCESS(f"VALID: {check.reason}"))
