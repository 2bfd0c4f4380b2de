"""Settings of the benchmark commands: the product's settings plus the "bench" app.

Only ``INSTALLED_APPS`` differs, so a benchmark measures exactly what the product runs;
the "bench" app adds the commands in ``bench/management/commands/`` (it has no models,
URLs or templates).
"""

from faceweb.settings import *  # noqa: F403 - the product's settings, unchanged
from faceweb.settings import INSTALLED_APPS as _PRODUCT_APPS

INSTALLED_APPS = [*_PRODUCT_APPS, "bench"]
