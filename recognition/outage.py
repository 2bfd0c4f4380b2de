"""A dependency that is down (the broker, the database) answers 503 with Retry-After, never 500.

The API turns these errors into its usual error body (``recognition.api.exceptions``);
pages get the app's 503 page (:class:`OutageMiddleware`). Calls that can do without the
broker (queueing a photo: the sweep sends it later) catch its errors themselves and
never get here.
"""

from __future__ import annotations

import logging

import kombu.exceptions
import redis.exceptions
from django.db import InterfaceError
from django.db import OperationalError as DatabaseError
from django.http import HttpResponse
from django.shortcuts import render

from recognition.exceptions import ServiceError

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 30
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    DatabaseError,
    InterfaceError,
)
MESSAGE = "A service this needs is unavailable for a moment; nothing was lost. Try again shortly."


class ServiceUnavailable(ServiceError):
    status = 503
    code = "unavailable"


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, OUTAGE_ERRORS)


def unavailable_page(request):
    response = render(request, "503.html", {"message": MESSAGE}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class OutageMiddleware:
    """Pages: an outage error that reaches the top becomes the 503 page (the API has its own handler)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_outage(exception):
            return None
        logger.warning("503 for %s %s: %s: %s", request.method, request.path, type(exception).__name__,
                       exception)
        try:
            return unavailable_page(request)
        except Exception:  # noqa: BLE001 - the page itself needs the database (sessions, user)
            response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
            response["Retry-After"] = str(RETRY_AFTER_S)
            return response
