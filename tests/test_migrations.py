"""Migrations stay replayable: a fresh ``migrate`` must not depend on today's code."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from recognition import roles

pytestmark = pytest.mark.django_db


def test_roles_migration_keeps_its_own_role_table_when_a_later_permission_is_added(monkeypatch):
    """A permission added to today's role table later (created by a later migration, so absent when
    0002 runs on a fresh database) must not break 0002: it replays its own frozen copy of the table."""
    added = [*roles.ROLE_PERMISSIONS[roles.UPLOADER], "a_permission_of_a_later_migration"]
    later = {**roles.ROLE_PERMISSIONS, roles.UPLOADER: added}
    monkeypatch.setattr(roles, "ROLE_PERMISSIONS", later)
    state_apps = MigrationLoader(connection).project_state(("recognition", "0002_roles_and_notice")).apps
    migration = importlib.import_module("recognition.migrations.0002_roles_and_notice")

    migration.create_roles(state_apps, None)

    uploader = Group.objects.get(name=roles.UPLOADER)
    assert set(uploader.permissions.values_list("codename", flat=True)) == {
        "add_photo", "view_photo", "add_consent", "view_consent"}
