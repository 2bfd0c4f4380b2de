"""Published versions of the consent notice. A new version is a new file here plus a migration.

The consent service and the app's post-migrate hook import this module.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.apps import apps as global_apps

NOTICE_DIR = Path(__file__).resolve().parent


def notice_text(version: str) -> str:
    return (NOTICE_DIR / f"v{version}.md").read_text(encoding="utf-8")


def publish_notice(version: str = "1", apps=None) -> None:
    """Store a notice version with the sha256 of its exact text (idempotent)."""
    ConsentNotice = (apps or global_apps).get_model("recognition", "ConsentNotice")
    text = notice_text(version)
    ConsentNotice.objects.get_or_create(
        version=version, defaults={"text": text, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    )
