"""Who is acting, from where, under which request id: the access context of one request or task.

Built once per request (``Access.of(request)``: the signed-in user or the API token's, the
client address from ``recognition.client``, the request id) or per task or command
(``Access.system(actor)``), and passed to services, which hand it to the access log. So
services never see an HTTP request. Anything in the app may import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recognition.client import client_ip


@dataclass(frozen=True)
class Access:
    """The access context written with every access-log entry."""

    actor: Any = None  # the signed-in User, or None for the system
    ip: str | None = None
    request_id: str = ""

    @classmethod
    def of(cls, request) -> Access:
        """The context of ``request`` (a Django or a DRF request), built once and kept on it.

        No request (a signal sent by a command): the system's context.
        """
        if request is None:
            return cls()
        http = getattr(request, "_request", request)  # DRF's Request wraps Django's
        user = getattr(request, "user", None)
        actor = user if user is not None and getattr(user, "is_authenticated", False) else None
        access = http.__dict__.get("_access")
        if access is None or access.actor != actor:  # DRF authenticates a token after the middleware
            access = cls(actor=actor, ip=client_ip(http), request_id=getattr(http, "request_id", ""))
            http._access = access
        return access

    @classmethod
    def system(cls, actor=None) -> Access:
        """The context of a task or a command: no address, no request id."""
        return cls(actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None)
