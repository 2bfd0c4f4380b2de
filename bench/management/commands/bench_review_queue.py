"""Benchmark the review queue page: N pending identifications, server time and SQL queries per render.

Everything it creates (people, photos, faces, identifications, a reviewer, access-log
entries) lives in one transaction that is rolled back at the end: the database is left
as it was. While it runs it holds the access log's append lock, so other writers of the
log wait for it (a few seconds); run it on a development or staging database.

It drives the page with ``django.test.Client``: the whole middleware stack (session,
authentication, CSRF, audit) runs as for a browser, in-process, so the figures are the
server's own. That import is acceptable here because ``bench`` is tooling that the product
never imports; product code never uses ``django.test``.
"""

from __future__ import annotations

import statistics
import time
import uuid

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from recognition.models import Face, Identification, Person, Photo


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Render the review queue with N pending identifications; print p50/p95 server ms and SQL queries."

    def add_arguments(self, parser):
        parser.add_argument("--pending", type=int, default=500, help="pending identifications (default 500)")
        parser.add_argument("--people", type=int, default=50, help="enrolled people (default 50)")
        parser.add_argument("--runs", type=int, default=30, help="renders to time (default 30)")
        parser.add_argument("--page", type=int, default=1, help="queue page to render")

    def handle(self, *args, pending: int, people: int, runs: int, page: int, **opts):
        try:
            with transaction.atomic():
                self._run(pending=pending, people=people, runs=runs, page=page)
                raise _Rollback
        except _Rollback:
            self.stdout.write("(all benchmark rows rolled back)")

    def _run(self, *, pending: int, people: int, runs: int, page: int) -> None:
        rng = np.random.default_rng(0)
        tag = uuid.uuid4().hex[:8]

        def vec():
            return rng.normal(size=128).astype(float).tolist()

        def photo(i: int, purpose: str, person=None) -> Photo:
            return Photo(person=person, purpose=purpose, file=f"photos/bench/{tag}-{purpose}-{i}.jpg",
                         sha256=f"{tag}{i:056d}", size_bytes=1, width=640, height=480, image_format="JPEG",
                         status=Photo.Status.DONE)

        def face(p: Photo, person=None, enrolled=False) -> Face:
            return Face(photo=p, index=0, person=person, enrolled=enrolled, box=[10, 10, 80, 80],
                        landmarks=[[0, 0]] * 5, det_score=0.99, quality=0.9, is_good=True, embedding=vec(),
                        pipeline_version="bench")

        t0 = time.perf_counter()
        persons = [Person(display_name=f"Bench person {i}", pseudonym=f"bench-{tag}-{i}")
                   for i in range(people)]
        Person.objects.bulk_create(persons)
        enrol_photos = Photo.objects.bulk_create([photo(i, "enrol", p) for i, p in enumerate(persons)])
        Face.objects.bulk_create([face(ph, ph.person, True) for ph in enrol_photos])
        per_face = 2
        n_faces = -(-pending // per_face)
        probe_photos = Photo.objects.bulk_create([photo(i, "identify") for i in range(n_faces)])
        probes = Face.objects.bulk_create([face(ph) for ph in probe_photos])
        idents = [Identification(face=f, candidate=persons[(i + r) % people], distance=0.3 + 0.1 * r,
                                 rank=r + 1)
                  for i, f in enumerate(probes) for r in range(per_face)][:pending]
        Identification.objects.bulk_create(idents)
        reviewer = User.objects.create_user(f"bench-reviewer-{tag}")
        reviewer.groups.add(Group.objects.get(name="reviewer"))
        self.stdout.write(f"created {len(idents)} pending identifications on {n_faces} faces, "
                          f"{people} people in {time.perf_counter() - t0:.1f} s")

        client = Client()
        client.force_login(reviewer)
        url = reverse("review-queue") + f"?page={page}"
        times, cpu, sql, queries = [], [], [], []
        with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            client.get(url)  # warm up: templates compiled, connections open
            for _ in range(runs):
                with CaptureQueriesContext(connection) as ctx:
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    response = client.get(url)
                    times.append((time.perf_counter() - start) * 1000)
                    cpu.append((time.thread_time() - start_cpu) * 1000)
                sql.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"queue page answered {response.status_code}")
                queries.append(len(ctx.captured_queries))
        items = response.content.count(b'class="rv-item card"')

        def p(values: list[float], q: float) -> float:
            values = sorted(values)
            return values[min(len(values) - 1, round(q * (len(values) - 1)))]

        self.stdout.write(
            f"review queue, {len(idents)} pending, page {page} ({items} faces shown), {runs} renders:\n"
            f"  server time  p50 {statistics.median(times):.1f} ms, p95 {p(times, .95):.1f} ms, "
            f"max {max(times):.1f} ms\n"
            f"  of which SQL p50 {statistics.median(sql):.1f} ms; "
            f"Python CPU p50 {statistics.median(cpu):.1f} ms, "
            f"p95 {p(cpu, .95):.1f} ms (CPU time is what the page costs on an idle machine)\n"
            f"  SQL queries {min(queries)}-{max(queries)}, {len(response.content) / 1024:.0f} KiB of HTML")
