"""The access log's HMAC and key fingerprint, and the application role's privileges.

Entries written before this migration have neither (``verify_chain`` accepts them as an
unkeyed prefix only; the first checkpoint then seals them). When ``DB_APP_ROLE`` names
the role the web app and workers connect as, it gets what it needs and no more:
read/write on every table, but only SELECT and INSERT on the access log, which it neither
owns nor can TRUNCATE, ALTER or disable the triggers of (recognition/dbroles.py; the
same grants are re-applied after every ``migrate``).
"""

from django.db import migrations, models


def grant(apps, schema_editor):
    from recognition import dbroles

    dbroles.grant_app_role(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("recognition", "0006_search_index_m32")]

    operations = [
        migrations.AddField("accessevent", "mac", models.CharField(blank=True, default="", max_length=64)),
        migrations.AddField("accessevent", "key_id", models.CharField(blank=True, default="", max_length=40)),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
