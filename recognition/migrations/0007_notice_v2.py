"""Publish consent notice v2: disclosure after review, own-face enrolment, withdrawal per purpose.

v1 stays stored unchanged: consents given to it keep pointing at the exact text (and hash)
that the person agreed to.
"""

from django.db import migrations


def publish_v2(apps, schema_editor):
    from recognition.notices import publish_notice

    publish_notice("2", apps)


class Migration(migrations.Migration):
    dependencies = [("recognition", "0006_search_index_m32")]

    operations = [migrations.RunPython(publish_v2, migrations.RunPython.noop)]
