"""Scale benchmark of face search on synthetic faces in the real tables (see bench/scale.py)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from bench import scale
from recognition.models import Face


def _product_index():
    """The gallery index as the models declare it (what migrations build)."""
    return next(index for index in Face._meta.indexes if index.name == scale.INDEX_NAME)


class Command(BaseCommand):
    help = ("Load N synthetic faces (COPY), build the HNSW (or --index ivfflat) index, print build time, "
            "index size, p50/p95/p99 search latency and recall@1/@10 against exact search, "
            "consent filter on. Truncates the domain tables: run it on a throwaway FACEWEB_DATA_DIR.")

    def add_arguments(self, parser):
        parser.add_argument("--faces", type=int, default=100_000)
        parser.add_argument("--index", choices=["hnsw", "ivfflat"], default="hnsw")
        parser.add_argument("--lists", type=int, default=1000, help="IVFFlat lists")
        parser.add_argument("--probes", default="10,20,40,80",
                            help="IVFFlat: comma-separated ivfflat.probes values to measure")
        index = _product_index()
        parser.add_argument("--m", type=int, default=index.m,
                            help=f"HNSW m (default: the product's, {index.m})")
        parser.add_argument("--ef-construction", type=int, default=index.ef_construction,
                            help=f"HNSW ef_construction (default: the product's, {index.ef_construction})")
        parser.add_argument("--ef-search", default="auto",
                            help="comma-separated values to measure; 'auto' (default): the value the "
                                 "product chooses for the loaded gallery's size (HNSW_EF_SEARCH_BY_SIZE)")
        parser.add_argument("--iterative-scan", default="relaxed_order",
                            choices=["off", "strict_order", "relaxed_order"])
        parser.add_argument("--queries", type=int, default=500, help="probes of each kind")
        parser.add_argument("--withdrawn", type=float, default=0.1, help="share of people without consent")
        parser.add_argument("--maintenance-work-mem", default="2GB")
        parser.add_argument("--warmup", type=int, default=100,
                            help="untimed searches before each measured set (fills the cache)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--distribution", default=None, help="face-embedding-distribution.npz")
        parser.add_argument("--reuse", action="store_true",
                            help="keep the loaded gallery (same --faces and --seed) and a matching index")
        parser.add_argument("--force", action="store_true", help="run even if real people are stored")
        parser.add_argument("--json", dest="json_path", default=None, help="also write the figures here")

    def handle(self, *args, **o):
        try:
            ef_search = ([] if o["ef_search"] == "auto"
                         else [int(v) for v in str(o["ef_search"]).split(",") if v.strip()])
            probes = [int(v) for v in str(o["probes"]).split(",") if v.strip()]
        except ValueError as exc:
            raise CommandError("--ef-search and --probes take integers separated by commas") from exc
        self.stdout.write(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (2-core machine)")
        try:
            report = scale.run(
                n_faces=o["faces"], m=o["m"], ef_construction=o["ef_construction"], ef_search=ef_search,
                n_queries=o["queries"], iterative_scan=o["iterative_scan"], withdrawn_share=o["withdrawn"],
                seed=o["seed"], maintenance_work_mem=o["maintenance_work_mem"],
                distribution=o["distribution"], reuse=o["reuse"], force=o["force"],
                index=o["index"], lists=o["lists"], ivfflat_probes=probes, warmup=max(0, o["warmup"]),
                say=lambda line: self.stdout.write(line, ending="\n") or self.stdout.flush())
        except (scale.NotABenchDatabase, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("")
        self.stdout.write(f"faces {report.faces:,} (matchable {report.matchable_faces:,}), people "
                          f"{report.people:,}; load {report.load_s:.1f}s; build {report.build_s:.1f}s; index "
                          f"{report.index_mb:.0f} MB; table {report.table_mb:.0f} MB; {report.exact_check}")
        self.stdout.write(scale.HEADER)
        for row in report.searches:
            self.stdout.write(scale.format_row(row))
        self.stdout.write(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        if o["json_path"]:
            with open(o["json_path"], "w") as fh:
                json.dump(asdict(report), fh, indent=2)
