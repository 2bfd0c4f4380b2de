from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied


class RoleRequired(PermissionDenied):
    """Refused for want of ``permission``; the 403 page names the roles that grant it."""

    def __init__(self, permission: str):
        super().__init__(f"This needs the permission {permission}.")
        self.permission = permission


def role_required(perm: str):
    """Sign-in required (redirect to the login page), then the permission (403 without it)."""

    def decorate(view):
        @wraps(view)
        def checked(request, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise RoleRequired(perm)
            return view(request, *args, **kwargs)

        return login_required(checked)

    return decorate
