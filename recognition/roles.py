"""The four roles. Each is a Django group with permissions (created by migration 0002)."""

from __future__ import annotations

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

# Checks used by views and the API: one place for what each capability requires.
CAN_UPLOAD = "recognition.add_photo"
CAN_REVIEW = "recognition.review_identification"
CAN_AUDIT = "recognition.export_accessevent"
CAN_ERASE = "recognition.erase_person"


def role_of(user: User | AnonymousUser) -> str:
    """The name of the user's role for the access log (the first matching group)."""
    if not user or not user.is_authenticated:
        return "anonymous"
    if user.is_superuser:
        return "superuser"
    names = {g.name for g in user.groups.all()}
    return next((r for r in ALL_ROLES if r in names), "none")
