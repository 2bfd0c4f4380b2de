"""``python -m bench COMMAND [ARGS]``: Django's command line with the benchmark commands.

Equivalent to ``DJANGO_SETTINGS_MODULE=bench.settings python manage.py COMMAND [ARGS]``;
run it from the repository root.
"""

from __future__ import annotations

import os
import sys

from django.core.management import execute_from_command_line


def main() -> None:
    """Run a Django management command under :mod:`bench.settings`."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"  # read lazily, at the first setting used
    execute_from_command_line(["python -m bench", *sys.argv[1:]])


if __name__ == "__main__":
    main()
