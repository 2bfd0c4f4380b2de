"""Benchmark: export an N-entry access log in bounded memory (prints time and peak RSS).

Works in a throwaway database (created, migrated, dropped at the end): the real log is
never touched. The chain is generated in Python with the same hashing as ``log_access``
and COPYed in, then each export format is streamed to /dev/null while peak RSS is
measured (VmHWM, reset before each export), and the whole chain is verified.
"""

from __future__ import annotations

import resource
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from django.core.management.base import BaseCommand
from django.db import connection

from recognition.audit import GENESIS_HASH, entry_hash, verify_chain
from recognition.services import audit_export

_COLUMNS = ("id", "at", "actor_id", "actor_name", "role", "action", "object_type", "object_id", "person_ref",
            "purpose", "ip", "request_id", "detail", "prev_hash", "hash")
_ACTIONS = ("photo.view", "face.view", "embedding.match", "photo.upload", "photo.process", "auth.login")


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass


class Command(BaseCommand):
    help = "Insert N access-log entries into a throwaway database, stream the exports, print time and memory."

    def add_arguments(self, parser):
        parser.add_argument("--entries", "-n", type=int, default=1_000_000)
        parser.add_argument("--skip-verify", action="store_true", help="do not time verify_chain")

    def handle(self, *args, entries: int, skip_verify: bool, **opts):
        import json

        settings_dict = connection.settings_dict
        settings_dict.setdefault("TEST", {})["NAME"] = "faceweb_bench_audit"
        old_name = settings_dict["NAME"]
        t0 = time.perf_counter()
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
        self.stdout.write(f"throwaway database migrated in {time.perf_counter() - t0:.1f}s")
        try:
            t0 = time.perf_counter()
            base = datetime(2026, 1, 1, tzinfo=UTC)
            prev = GENESIS_HASH
            with connection.cursor() as cur:
                sql = f"COPY recognition_accessevent ({', '.join(_COLUMNS)}) FROM STDIN"
                with cur.cursor.copy(sql) as copy:
                    for i in range(1, entries + 1):
                        e = SimpleNamespace(
                            id=i, at=base + timedelta(seconds=i), actor_id=(i % 50) + 1,
                            actor_name=f"user{i % 50}", role="reviewer", action=_ACTIONS[i % len(_ACTIONS)],
                            object_type="face", object_id=str(i), person_ref=f"subject-{i % 9973:016x}",
                            purpose="display", ip="10.0.0.1", request_id=f"{i:032x}",
                            detail={"n": i, "best_distance": 0.4321}, prev_hash=prev, hash="")
                        e.hash = entry_hash(e)
                        copy.write_row((e.id, e.at, e.actor_id, e.actor_name, e.role, e.action, e.object_type,
                                        e.object_id, e.person_ref, e.purpose, e.ip, e.request_id,
                                        json.dumps(e.detail), e.prev_hash, e.hash))
                        prev = e.hash
                cur.execute("SELECT setval(pg_get_serial_sequence('recognition_accessevent', 'id'), %s)",
                            [entries])
                cur.execute("ANALYZE recognition_accessevent")
            self.stdout.write(f"generated and COPYed {entries:,} chained entries in "
                              f"{time.perf_counter() - t0:.1f}s (RSS now {_rss_mb('VmRSS'):.0f} MB)")

            for fmt in audit_export.FORMATS:
                _reset_peak()
                before = _rss_mb("VmRSS")
                t0 = time.perf_counter()
                size = lines = 0
                with open("/dev/null", "w", encoding="utf-8") as sink:
                    chunks = audit_export.start_export(f=audit_export.AuditFilter(), fmt=fmt, via="bench")
                    for chunk in chunks:
                        sink.write(chunk)
                        size += len(chunk)
                        lines += chunk.count("\n")
                took = time.perf_counter() - t0
                self.stdout.write(
                    f"export {fmt:5s}: {lines:,} lines, {size / 1e6:.0f} MB in {took:.1f}s "
                    f"({lines / took:,.0f} lines/s); RSS before {before:.0f} MB, peak during export "
                    f"{_rss_mb('VmHWM'):.0f} MB")
            if not skip_verify:
                _reset_peak()
                t0 = time.perf_counter()
                report = verify_chain()
                self.stdout.write(f"verify_chain: ok={report.ok} checked={report.checked:,} in "
                                  f"{time.perf_counter() - t0:.1f}s, peak RSS {_rss_mb('VmHWM'):.0f} MB")
            self.stdout.write(f"process peak RSS (ru_maxrss, whole run): "
                              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
            self.stdout.write("throwaway database dropped")
