"""Role checks for the API: the same permission strings as the pages (recognition.roles)."""

from __future__ import annotations

from functools import cache

from rest_framework.permissions import BasePermission

from recognition.models import ApiToken


@cache
def require(perm: str) -> type[BasePermission]:
    """A permission class: signed in (401 without credentials), then ``perm`` (403 without it)."""

    class HasPerm(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perm(perm))

    HasPerm.__name__ = HasPerm.__qualname__ = f"Requires_{perm.split('.')[-1]}"
    return HasPerm


class SessionOnly(BasePermission):
    """Only a signed-in browser session: a token must not be able to mint more tokens."""

    message = "Create tokens on the API tokens page (signed in), not with a token."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and not isinstance(request.auth, ApiToken))
