"""Re-embed stored faces of older pipeline versions with the current pipeline."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from recognition import runtime
from recognition.services import reindex


class Command(BaseCommand):
    help = ("Re-embed faces stored by an older pipeline version (matching only compares faces of one "
            "version). Resumable: run it again after an interruption.")

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=0, help="stop after this many photos (0 = all)")
        parser.add_argument("--dry-run", action="store_true", help="only count what would be re-embedded")

    def handle(self, *args, limit: int, dry_run: bool, **opts):
        pipeline = runtime.get_pipeline()
        version = pipeline.version
        ids = reindex.stale_photo_ids(version)
        faces = reindex.stale_face_count(version)
        self.stdout.write(f"current pipeline {version}")
        self.stdout.write(f"{faces} face(s) of older versions in {len(ids)} photo(s)")
        if dry_run or not ids:
            return
        if limit:
            ids = ids[:limit]
        done = redetected = relanded = 0
        skipped: dict[str, int] = {}
        with tqdm(total=len(ids), desc="reindex", unit="photo", file=sys.stderr,
                  disable=not sys.stderr.isatty()) as bar:
            for n, pid in enumerate(ids, 1):
                out = reindex.reindex_photo(pid, pipeline)
                if out.skipped:
                    skipped[out.skipped] = skipped.get(out.skipped, 0) + 1
                else:
                    done += 1
                    redetected += out.redetected
                    relanded += out.from_landmarks
                bar.update(1)
                if not sys.stderr.isatty() and (n % 100 == 0 or n == len(ids)):
                    self.stdout.write(f"  {n}/{len(ids)} photos")
        self.stdout.write(f"re-embedded {redetected + relanded} face(s) in {done} photo(s) "
                          f"({redetected} re-detected, {relanded} from stored landmarks)")
        for why, k in sorted(skipped.items()):
            self.stdout.write(f"skipped {k} photo(s): {why}")
        left = reindex.stale_face_count(version)
        self.stdout.write(f"{left} face(s) of older versions left")
