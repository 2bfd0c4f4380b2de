"""Publish consent notice v2: disclosure only after review, own-face enrolment, withdrawal per purpose.

Frozen like 0002: it reads its own notice file with the historical ``apps`` only. v1 stays
stored unchanged: consents given to it keep pointing at the exact text (and hash) agreed to.
"""

import hashlib
from pathlib import Path

from django.db import migrations

# Notice v2's text is immutable (a new wording is a new file and a new migration).
NOTICE_V2 = Path(__file__).resolve().parent.parent / "notices" / "v2.md"


def publish_v2(apps, schema_editor):
    ConsentNotice = apps.get_model("recognition", "ConsentNotice")
    text = NOTICE_V2.read_text(encoding="utf-8")
    ConsentNotice.objects.get_or_create(
        version="2", defaults={"text": text, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()})


class Migration(migrations.Migration):
    dependencies = [("recognition", "0007_access_log_keys_and_roles")]

    operations = [migrations.RunPython(publish_v2, migrations.RunPython.noop)]
