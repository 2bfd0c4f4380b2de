"""Benchmark: access-log throughput with 1, 2, 4 and 8 concurrent writers, and the chain lock's hold time.

Works in a throwaway database (created, migrated, dropped at the end). Each writer is a
thread with its own connection that, in a loop, runs one transaction: ``log_access`` and
then ``--work-ms`` of further database work in the same transaction (``pg_sleep``: the
searches of a photo, the other decisions of a bulk review), like the product's writers.

Two ways of taking the chain lock are compared:
- ``commit`` (the product): entries are chained just before COMMIT, so the lock is held
  for the append and the commit only;
- ``early`` (before this design): the lock is taken when the entry is logged and held
  through the rest of the transaction, as ``log_access`` used to do.

Prints entries/s and the lock's hold time per append (mean and max) for each case.
"""

from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from recognition import audit


def _writer(stop: threading.Event, mode: str, work_s: float, holds: list[float], waits: list[float],
            counts: list[int]) -> None:
    n = 0
    try:
        while not stop.is_set():
            with transaction.atomic():
                audit.log_access(action="bench.write", object_type="thing", object_id=n, detail={"n": n})
                if mode == "early":
                    asked = time.perf_counter()
                    with connection.cursor() as cur:
                        cur.execute("SELECT pg_advisory_xact_lock(%s)", [audit._CHAIN_LOCK_KEY])
                    locked = time.perf_counter()
                    waits.append(locked - asked)
                if work_s:
                    with connection.cursor() as cur:
                        cur.execute("SELECT pg_sleep(%s)", [work_s])
            if mode == "early":
                holds.append(time.perf_counter() - locked)
            n += 1
    finally:
        counts.append(n)
        connection.close()


class Command(BaseCommand):
    help = "Access-log entries/s with 1, 2, 4, 8 concurrent writers and the chain lock's hold time."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=10.0, help="per case")
        parser.add_argument("--work-ms", type=float, default=20.0,
                            help="database work in each transaction after the entry is logged")
        parser.add_argument("--writers", default="1,2,4,8")
        parser.add_argument("--modes", default="commit,early")

    def handle(self, *args, seconds: float, work_ms: float, writers: str, modes: str, **opts):
        settings_dict = connection.settings_dict
        settings_dict.setdefault("TEST", {})["NAME"] = "faceweb_bench_audit_chain"
        old_name = settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
        try:
            self.stdout.write(f"{seconds:.0f} s per case, {work_ms:g} ms of other database work per "
                              "transaction")
            self.stdout.write(f"{'lock':6s} {'writers':>7s} {'entries/s':>10s} {'hold mean':>10s} "
                              f"{'hold max':>9s} {'wait mean':>10s}")
            for mode in modes.split(","):
                for n in (int(w) for w in writers.split(",")):
                    audit.CHAIN_STATS.reset()
                    stop, holds, waits, counts = threading.Event(), [], [], []
                    job = (stop, mode, work_ms / 1000, holds, waits, counts)
                    threads = [threading.Thread(target=_writer, args=job) for _ in range(n)]
                    t0 = time.perf_counter()
                    for t in threads:
                        t.start()
                    time.sleep(seconds)
                    stop.set()
                    for t in threads:
                        t.join()
                    took = time.perf_counter() - t0
                    stats = audit.CHAIN_STATS
                    if mode == "early":
                        hold_mean = sum(holds) / len(holds) if holds else 0.0
                        hold_max = max(holds, default=0.0)
                    else:
                        hold_mean = stats.hold_s / stats.appends if stats.appends else 0.0
                        hold_max = stats.max_hold_s
                    if mode == "early":
                        wait_mean = sum(waits) / len(waits) if waits else 0.0
                    else:
                        wait_mean = stats.wait_s / stats.appends if stats.appends else 0.0
                    self.stdout.write(f"{mode:6s} {n:7d} {sum(counts) / took:10.1f} "
                                      f"{hold_mean * 1000:8.2f}ms {hold_max * 1000:7.2f}ms "
                                      f"{wait_mean * 1000:8.2f}ms")
            report = audit.verify_chain(checkpoints=[])
            self.stdout.write(f"chain after the run: ok={report.ok}, {report.checked:,} entries")
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
