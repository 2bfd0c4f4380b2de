"""Management commands of the "bench" app (benchmarks only; see :mod:`bench`)."""
