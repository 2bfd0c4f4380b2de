"""Benchmarks and evaluations of search and identification at scale (run via manage.py commands)."""
