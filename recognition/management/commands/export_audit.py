"""Export the access log (filtered) as CSV or JSON Lines, streamed: constant memory at any size."""

from __future__ import annotations

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recognition.exceptions import ServiceError
from recognition.services import audit_export


class Command(BaseCommand):
    help = ("Export the access log as CSV or JSON Lines (each entry with its hashes, a header and a signed "
            "trailer); the export is logged.")

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=audit_export.FORMATS, default="jsonl")
        parser.add_argument("--output", "-o", default="-", help="file to write ('-' for standard output)")
        parser.add_argument("--since", default="", help="YYYY-MM-DD or an ISO time (UTC unless given)")
        parser.add_argument("--until", default="", help="YYYY-MM-DD (inclusive) or an ISO time")
        parser.add_argument("--actor", default="", help="username")
        parser.add_argument("--person", default="", help="pseudonym or person id")
        parser.add_argument("--action", default="", help="an action, or a prefix ending with '.' (photo.)")
        parser.add_argument("--auditor", default="", help="username recorded as the exporter (else 'system')")

    def handle(self, *args, **opts):
        actor = None
        if opts["auditor"]:
            actor = get_user_model().objects.filter(username=opts["auditor"]).first()
            if actor is None:
                raise CommandError(f"no user named {opts['auditor']!r}")
        try:
            f = audit_export.parse_filter(opts)
            chunks = audit_export.start_export(f=f, fmt=opts["format"], actor=actor, via="command")
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        to_stdout = opts["output"] == "-"
        out = sys.stdout if to_stdout else open(opts["output"], "w", encoding="utf-8", newline="")  # noqa: SIM115
        written = 0
        try:
            with tqdm(unit=" entries", disable=to_stdout, file=sys.stderr) as bar:
                for chunk in chunks:
                    out.write(chunk)
                    n = chunk.count("\n")
                    written += n
                    bar.update(n)
        finally:
            if not to_stdout:
                out.close()
        if not to_stdout:
            # Less the header and the trailer (and, in CSV, the column names).
            entries = written - (3 if opts["format"] == "csv" else 2)
            self.stderr.write(self.style.SUCCESS(f"{entries} entries written to {opts['output']}"))
