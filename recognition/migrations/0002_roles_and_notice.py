"""Create the four role groups with their permissions, and publish consent notice v1.

Frozen: this migration holds its own copy of the role table as it was when it was written,
and uses only the historical ``apps``. It never calls today's ``recognition.roles``: a
permission added later (with its own migration) must not break a fresh ``migrate`` here.
After every migrate, ``post_migrate`` brings the groups up to today's table anyway.
"""

import hashlib
from pathlib import Path

from django.contrib.auth.management import create_permissions
from django.db import migrations

# The role table of this migration (recognition/roles.py at the time); never edit it.
ROLE_PERMISSIONS = {
    "uploader": ["add_photo", "view_photo", "add_consent", "view_consent"],
    "reviewer": ["view_person", "change_person", "merge_person", "view_face", "view_face_crop", "view_photo",
                 "view_identification", "review_identification"],
    "auditor": ["view_accessevent", "export_accessevent"],
    "operator": ["view_person", "erase_person", "view_erasurereceipt", "manage_retention", "view_photo"],
}

# Notice v1's text is immutable (a new wording is a new file and a new migration).
NOTICE_V1 = Path(__file__).resolve().parent.parent / "notices" / "v1.md"


def create_roles(apps, schema_editor):
    app_config = apps.get_app_config("recognition")
    if getattr(app_config, "models_module", None) is None:  # a migration state stub has none
        app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(content_type__app_label="recognition", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"permissions missing for role {role}: {sorted(missing)}")
        group.permissions.set(perms)


def publish_notice(apps, schema_editor):
    ConsentNotice = apps.get_model("recognition", "ConsentNotice")
    text = NOTICE_V1.read_text(encoding="utf-8")
    ConsentNotice.objects.get_or_create(
        version="1", defaults={"text": text, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()})


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
