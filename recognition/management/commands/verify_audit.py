"""Check the access log (in the database, or an exported file offline) and say what was checked."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recognition import auditkeys
from recognition.audit import verify_chain
from recognition.services import audit_export


def _public_keys(values: list[str]) -> dict[str, bytes] | None:
    """--public-key values (base64, or a file holding it) by fingerprint; None: this server's keys."""
    if not values:
        return None
    keys = {}
    for value in values:
        text = Path(value).read_text(encoding="utf-8").strip() if Path(value).is_file() else value
        try:
            raw = auditkeys.decode_b64(text, "--public-key")
        except auditkeys.AuditKeyError as exc:
            raise CommandError(str(exc)) from exc
        keys[auditkeys.public_fingerprint(raw)] = raw
    return keys


class Command(BaseCommand):
    help = ("Check the whole access log: hashes, links, HMACs under the audit key, signed checkpoints "
            "(exit status 1 if anything does not hold); or, with --file, an exported file offline.")

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, help="check an exported file (.csv or .jsonl) instead")
        parser.add_argument("--format", choices=audit_export.FORMATS, help="format of --file (by extension)")
        parser.add_argument("--public-key", action="append", default=[],
                            help="the public key (base64, or a file holding it) to trust for --file; "
                                 "default: this server's keys. Repeat for earlier keys.")

    def handle(self, *args, file: Path | None, format: str | None, public_key: list[str], **opts):
        if file is not None:
            if not file.is_file():
                raise CommandError(f"{file} is not a file")
            with file.open(encoding="utf-8", newline="") as fh:
                fmt = format or audit_export.detect_format(file.name, fh.readline())
                fh.seek(0)
                report = audit_export.check_export_file(fh, fmt, public_keys=_public_keys(public_key))
            if report.ok:
                self.stdout.write(self.style.SUCCESS(f"OK: {report.summary()}"))
                return
            where = f" at entry {report.first_broken_id}" if report.first_broken_id else ""
            raise CommandError(f"BROKEN{where}: {report.reason} ({report.checked} entries before it hold)")
        report = verify_chain()
        audit_export.log_verification(report=report, via="command")
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"OK, the chain is intact: {report.summary()}"))
            return
        raise CommandError(f"BROKEN at entry {report.first_broken_id}: {report.reason} "
                           f"({report.checked} entries before it are intact)")
