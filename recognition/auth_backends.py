"""Sign-in lockout (django-axes) for every authentication that comes with a request."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Refuse sign-ins while the account or the client address is locked out.

    Calls without a request (management commands, the shell) have no client to throttle:
    they are left to the next backend instead of raising, as axes' own backend does.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
