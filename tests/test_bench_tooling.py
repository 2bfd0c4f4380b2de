"""The benchmarks stand apart from the product: listed by ``python -m bench``, not by ``manage.py``."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import REPO

BENCH_COMMANDS = {"bench_search", "bench_ingest", "bench_review_queue", "bench_audit_export",
                  "evaluate_openset"}


def _commands(*argv: str) -> set[str]:
    # This process's services (inherited URLs) and a key: listing commands starts nothing.
    env = {**os.environ, "SECRET_KEY": "command-listing-only"}
    result = subprocess.run([sys.executable, *argv, "help", "--commands"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    return set(result.stdout.split())


def test_the_products_manage_py_lists_no_benchmark_command():
    commands = _commands("manage.py")
    assert "erase_person" in commands
    assert not BENCH_COMMANDS & commands


def test_python_m_bench_lists_the_benchmark_commands_beside_the_products():
    commands = _commands("-m", "bench")
    assert BENCH_COMMANDS <= commands
    assert "erase_person" in commands
