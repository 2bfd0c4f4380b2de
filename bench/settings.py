"""Settings of the benchmark commands: the product's settings plus the "bench" app.

Only ``INSTALLED_APPS`` differs (and, on the embedded cluster, the database role, below),
so a benchmark measures exactly what the product runs;
the "bench" app adds the commands in ``bench/management/commands/`` (it has no models,
URLs or templates).
"""

import os

# Benchmarks create throwaway databases and build indexes: on the embedded cluster they connect as
# its superuser (faceweb/embedded.py), not as the product's insert-only application role.
os.environ.setdefault("FACEWEB_EMBEDDED_ROLE", "superuser")

from faceweb.settings import *  # noqa: E402,F403 - the product's settings, unchanged
from faceweb.settings import INSTALLED_APPS as _PRODUCT_APPS  # noqa: E402

INSTALLED_APPS = [*_PRODUCT_APPS, "bench"]
