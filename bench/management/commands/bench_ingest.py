"""Ingest benchmark: photos/min, upload-to-result latency, worker memory (see bench/ingest.py)."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bench import ingest


class Command(BaseCommand):
    help = ("Upload N real photos through the service to real Celery workers (1, then 2 processes) on "
            "throwaway PostgreSQL and Redis; print photos/min, upload-to-result latency p50/p95 and "
            "peak worker RSS.")

    def add_arguments(self, parser):
        parser.add_argument("--folder", type=Path, action="append", default=[],
                            help="more photos (searched recursively), after tests/fixtures/faces; repeatable")
        parser.add_argument("--limit", type=int, default=60, help="photos per run (default 60)")
        parser.add_argument("--workers", default="1,2", help="worker process counts to measure (default 1,2)")
        parser.add_argument("--tf-threads", type=int, default=None,
                            help="FACEWEB_TF_THREADS per worker (default: CPU cores / workers)")
        parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run")
        parser.add_argument("--data-dir", type=Path, default=None,
                            help="keep the throwaway services and worker logs here (default: a temporary "
                                 "folder, removed at the end)")
        parser.add_argument("--json", dest="json_path", type=Path, default=None,
                            help="also write the figures to this file")

    def handle(self, *args, **o):
        try:
            counts = [int(v) for v in o["workers"].split(",") if v.strip()]
        except ValueError as exc:
            raise CommandError("--workers takes integers separated by commas, e.g. 1,2") from exc
        if not counts or min(counts) < 1 or o["limit"] < 2:
            raise CommandError("--workers needs counts >= 1 and --limit at least 2")

        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        load = os.getloadavg()
        say(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
        try:
            phases = ingest.run(folders=o["folder"], limit=o["limit"], worker_counts=counts,
                                tf_threads=o["tf_threads"], timeout=o["timeout"],
                                model_cache=settings.MODEL_CACHE_DIR, data_dir=o["data_dir"], say=say)
        except (FileNotFoundError, ValueError, TimeoutError) as exc:
            raise CommandError(str(exc)) from exc
        say("")
        say(ingest.HEADER)
        for phase in phases:
            say(ingest.format_row(phase))
        say("p50/p95/max: upload to result (first proposal, else the photo finished), queueing included; "
            "proc p50: one photo's processing (claimed to finished); load: 1-min load average before -> "
            "after the run")
        if not all(p.tf_threads_applied for p in phases):
            say("tf thr in parentheses: requested, but the workers logged that TensorFlow was initialised "
                "before FACEWEB_TF_THREADS could be applied (TensorFlow's default pools were used)")
        if o["json_path"]:
            o["json_path"].write_text(ingest.as_json(phases))
            say(f"figures written to {o['json_path']}")
