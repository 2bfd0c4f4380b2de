"""One error body for every API failure: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from recognition.exceptions import ServiceError
from recognition.outage import MESSAGE as OUTAGE_MESSAGE
from recognition.outage import RETRY_AFTER_S, is_outage

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail) -> str:
    if isinstance(detail, list | tuple):
        return " ".join(_flatten(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    return str(detail)


def _fields(detail) -> dict:
    """DRF's nested detail as ``{field: [messages]}`` (nested fields joined with dots)."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list | tuple) and value and not all(isinstance(v, str) for v in value):
            for i, sub in enumerate(value):
                walk(f"{prefix}.{i}" if prefix else str(i), sub)
        else:
            items = value if isinstance(value, list | tuple) else [value]
            out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in items)

    walk("", detail)
    return out


def _unavailable(code: str, message: str) -> Response:
    return Response(error_body(code, message), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                    headers={"Retry-After": str(RETRY_AFTER_S)})


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        if exc.status == status.HTTP_503_SERVICE_UNAVAILABLE:
            return _unavailable(exc.code, exc.message)
        response = Response(error_body(exc.code, exc.message), status=exc.status)
        if getattr(exc, "retry_after", None):  # a quota: when to come back
            response["Retry-After"] = str(int(exc.retry_after))
        return response
    if is_outage(exc):  # the broker or the database is down: try again later, not a bug
        request = context.get("request")
        logger.warning("503 for %s %s: %s: %s", getattr(request, "method", ""), getattr(request, "path", ""),
                       type(exc).__name__, exc)
        return _unavailable("unavailable", OUTAGE_MESSAGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "Your role does not allow this.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handling and logging take over
    if isinstance(exc, exceptions.ValidationError):
        fields = _fields(exc.detail)
        messages = fields.pop("non_field_errors", [])
        message = " ".join(messages) or "Some fields are invalid: " + ", ".join(sorted(fields)) + "."
        response.data = error_body("invalid", message, fields)
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(code, _flatten(response.data.get("detail", response.data)
                                                  if isinstance(response.data, dict) else response.data))
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
        response.data["error"]["code"] = "throttled"
    return response
