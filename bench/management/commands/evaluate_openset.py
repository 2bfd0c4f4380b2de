"""Open-set identification: TIR at FPIR 1% and 0.1% from 1k to 1M faces (see bench/openset.py).

Run with ``python -m bench evaluate_openset [FOLDER ...]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bench import openset
from bench.synthetic import FaceDistribution, gallery
from recognition.services.decision import threshold_for

# Where the labelled development photos are when no folder is given (a data path from the
# environment, never one of a particular machine).
DEVSET_ENV = "FACEWEB_DEVSET"


class Command(BaseCommand):
    help = ("Enrol part of the identities of labelled photo folders, probe with other photos of enrolled "
            "and never-enrolled people, fill the gallery with synthetic distractors, and print the true "
            "identification rate at FPIR 1% and 0.1% with the thresholds chosen.")

    def add_arguments(self, parser):
        parser.add_argument("folders", nargs="*", type=Path,
                            help=f"labelled folders (default: ${DEVSET_ENV}/deepface and "
                                 f"${DEVSET_ENV}/att_orl)")
        parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="gallery sizes (faces)")
        parser.add_argument("--fpir", default="0.01,0.001", help="target FPIRs")
        parser.add_argument("--splits", type=int, default=10, help="random enrolled/stranger splits pooled")
        parser.add_argument("--enrol-per-person", type=int, default=2)
        parser.add_argument("--synthetic-probes", type=int, default=5000,
                            help="synthetic strangers and enrolled probes (0: skip the synthetic part)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--distribution", default=None)

    def handle(self, *args, **o):
        try:
            sizes = [int(v) for v in o["sizes"].split(",")]
            targets = [float(v) for v in o["fpir"].split(",")]
        except ValueError as exc:
            raise CommandError("--sizes and --fpir take comma-separated numbers") from exc
        folders = o["folders"]
        if not folders:
            devset = os.environ.get(DEVSET_ENV)
            if not devset:
                raise CommandError(f"name the labelled folders, or set {DEVSET_ENV} to the folder holding "
                                   "deepface/ and att_orl/")
            folders = [Path(devset) / "deepface", Path(devset) / "att_orl"]
        missing = [str(f) for f in folders if not f.is_dir()]
        if missing:
            raise CommandError(f"no such folder: {', '.join(missing)}")
        self.stdout.write(f"load average {os.getloadavg()[0]:.2f}; MATCH_TAIL_SCALE "
                          f"{settings.MATCH_TAIL_SCALE}")
        dist = FaceDistribution.load(o["distribution"])
        rng = np.random.default_rng(o["seed"])
        _, pool, _ = gallery(dist, max(sizes), rng)
        self.stdout.write(f"{len(pool):,} synthetic distractor faces drawn")

        def app_threshold(size: int, target: float) -> float:
            return threshold_for(gallery_faces=size, target_fpir=target)

        labelled = openset.embed_labelled(folders, settings.DATA_DIR / "bench",
                                          say=lambda line: self.stdout.write(line))
        n_ids = len(np.unique(labelled.labels))
        self.stdout.write(f"real photos: {len(labelled.labels)} embedded of {n_ids} identities "
                          f"({labelled.skipped} without a face skipped); {o['splits']} splits pooled")
        self.stdout.write(openset.HEADER)
        for cell in openset.real_openset(labelled, pool, sizes, targets, app_threshold, splits=o["splits"],
                                         enrol_per_person=o["enrol_per_person"], seed=o["seed"]):
            self.stdout.write(openset.format_cell(cell))
        if o["synthetic_probes"]:
            self.stdout.write(f"synthetic probes ({o['synthetic_probes']} strangers, as many enrolled; "
                              f"{min(3000, min(sizes) // 2)} enrolled faces of people with 1-5 faces):")
            self.stdout.write(openset.HEADER)
            for cell in openset.synthetic_openset(dist, pool, sizes, targets, app_threshold,
                                                  enrolled_people=1000, probes=o["synthetic_probes"],
                                                  seed=o["seed"]):
                self.stdout.write(openset.format_cell(cell))
        self.stdout.write(f"load average {os.getloadavg()[0]:.2f}")
