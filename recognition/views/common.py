from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required


def role_required(perm: str):
    """Sign-in required (redirect to the login page), then the permission (403 without it)."""

    def decorate(view):
        return login_required(permission_required(perm, raise_exception=True)(view))

    return decorate


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
