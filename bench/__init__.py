"""Benchmarks and evaluation tooling for faceweb: measured, never shipped.

What lives here: the benchmark and evaluation modules (search at scale, open-set
identification, ingest throughput, synthetic embeddings), the throwaway service stack
(:mod:`bench.stack`) that the ingest benchmark and the fault tests drive, and the
Django benchmark commands in ``bench/management/commands/``. They run through
:mod:`bench.settings` (the product's settings plus this "bench" app), so the product's
``manage.py help`` does not list them::

    python -m bench help                      # the benchmark commands among Django's
    python -m bench bench_search --faces 100000
    DJANGO_SETTINGS_MODULE=bench.settings python manage.py bench_search ...

Who may import it: the tests and this package itself. Product code (``faceweb``,
``recognition``) never imports ``bench``, and nothing here imports ``tests``; the Docker
image does not contain it.
"""
