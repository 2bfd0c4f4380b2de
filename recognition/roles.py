"""Roles and permissions, in one place: the four roles, what each may do, and the checks.

Each role is a Django group with permissions (kept in step with ``ROLE_PERMISSIONS`` after
every migrate). Every view, API view, command and template checks a capability named
here (``CAN_*``; templates read them as ``can.<name>``, see :data:`CAPABILITIES`), never a
permission string of its own. Anything in the app may import this module; it imports
only Django's auth.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import AnonymousUser, User

UPLOADER = "uploader"
REVIEWER = "reviewer"
AUDITOR = "auditor"
OPERATOR = "operator"
ALL_ROLES = (UPLOADER, REVIEWER, AUDITOR, OPERATOR)

# Permission codenames of the recognition app granted to each role.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    UPLOADER: ["add_photo", "view_photo", "add_consent", "view_consent"],
    REVIEWER: ["view_person", "change_person", "merge_person", "view_face", "view_face_crop", "view_photo",
               "view_identification", "review_identification"],
    AUDITOR: ["view_accessevent", "export_accessevent"],
    OPERATOR: ["view_person", "erase_person", "view_erasurereceipt", "manage_retention", "view_photo"],
}

# What each capability requires: the one place where views, the API, commands and
# templates look it up.
CAN_UPLOAD = "recognition.add_photo"
CAN_CONSENT = "recognition.add_consent"
CAN_VIEW_PHOTO = "recognition.view_photo"
CAN_VIEW_PERSON = "recognition.view_person"
CAN_REVIEW = "recognition.review_identification"
CAN_MERGE = "recognition.merge_person"
CAN_AUDIT = "recognition.export_accessevent"
CAN_ERASE = "recognition.erase_person"
CAN_VIEW_RECEIPTS = "recognition.view_erasurereceipt"
CAN_MANAGE_RETENTION = "recognition.manage_retention"

# The capabilities templates see as ``can.<name>`` (recognition.context_processors).
CAPABILITIES: dict[str, str] = {
    "upload": CAN_UPLOAD, "consent": CAN_CONSENT, "view_photo": CAN_VIEW_PHOTO,
    "view_person": CAN_VIEW_PERSON, "review": CAN_REVIEW, "merge": CAN_MERGE, "audit": CAN_AUDIT,
    "erase": CAN_ERASE, "view_receipts": CAN_VIEW_RECEIPTS, "manage_retention": CAN_MANAGE_RETENTION,
}


def capabilities(user: User | AnonymousUser) -> dict[str, bool]:
    """What ``user`` may do, by capability name (all False for an anonymous user)."""
    if not user or not user.is_authenticated:
        return dict.fromkeys(CAPABILITIES, False)
    return {name: user.has_perm(perm) for name, perm in CAPABILITIES.items()}


def roles_with_perm(perm: str) -> list[str]:
    """The roles that grant ``perm`` (``"recognition.<codename>"``), for messages such as a 403 page."""
    app, _, codename = perm.partition(".")
    if app != "recognition":
        return []
    return [role for role in ALL_ROLES if codename in ROLE_PERMISSIONS[role]]


def sync_roles(apps=None) -> None:
    """Create the role groups and give each exactly its permissions (idempotent).

    Called by migration 0002 with the historical ``apps`` and after every migrate or
    flush (``post_migrate``), so the roles exist in every database, test ones included.
    """
    apps = apps or global_apps
    app_config = apps.get_app_config("recognition")
    if getattr(app_config, "models_module", None) is None:  # a migration state stub
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


def role_of(user: User | AnonymousUser) -> str:
    """The name of the user's role for the access log (the first matching group)."""
    if not user or not user.is_authenticated:
        return "anonymous"
    if user.is_superuser:
        return "superuser"
    names = {g.name for g in user.groups.all()}
    return next((r for r in ALL_ROLES if r in names), "none")
