"""Management commands of the "bench" app (benchmarks only, nothing imports them; see :mod:`bench`)."""
