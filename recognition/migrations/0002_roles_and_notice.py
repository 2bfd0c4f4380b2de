"""Create the four role groups with their permissions, and publish consent notice v1."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from recognition.roles import sync_roles

    sync_roles(apps)


def publish_notice(apps, schema_editor):
    from recognition.notices import publish_notice

    publish_notice("1", apps)


class Migration(migrations.Migration):
    dependencies = [
        ("recognition", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(publish_notice, migrations.RunPython.noop),
    ]
