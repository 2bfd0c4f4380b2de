"""Errors that services and selectors raise for the caller to show: each carries a message a user can act on.

Domain errors, not HTTP: the pages turn them into responses (``NotFound`` into Django's
404 in ``recognition.middleware.DomainErrorMiddleware``), the API into its error body
(``recognition.api.exceptions``), commands into ``CommandError``.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be carried out as asked. ``status`` is the HTTP status to answer with."""

    status = 400
    code = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """No such object, or not one the user may see (the same answer for both)."""

    status = 404
    code = "not_found"


class InvalidUpload(ServiceError):
    code = "invalid_upload"


class ConsentRequired(ServiceError):
    status = 403
    code = "consent_required"


class NotAllowed(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"
