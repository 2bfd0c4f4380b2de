"""The app's own error pages (403 naming the role a page needs, 404, 500) for ``DEBUG`` off.

Wired in ``faceweb/urls.py`` (``handler403`` ...). API paths keep their JSON error body.
"""

from __future__ import annotations

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.views.decorators.csrf import requires_csrf_token

from recognition.roles import roles_with_perm


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _json(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


@requires_csrf_token
def permission_denied(request, exception=None):
    perm = getattr(exception, "permission", None) if exception is not None else None
    roles = roles_with_perm(perm) if perm else []
    if _is_api(request):
        return _json(403, "forbidden", "Your role does not allow this.")
    return render(request, "403.html", {
        "status": 403, "title": "You cannot open this page",
        "message": "Your account's role does not give access to this page.", "roles": roles,
    }, status=403)


@requires_csrf_token
def page_not_found(request, exception=None):
    if _is_api(request):
        return _json(404, "not_found", "Not found.")
    return render(request, "404.html", {
        "status": 404, "title": "Page not found",
        "message": "There is nothing at this address, or it is not yours to see.",
    }, status=404)


@requires_csrf_token
def server_error(request):
    """Rendered without context processors: the error may be the database itself."""
    if _is_api(request):
        return _json(500, "error", "Something went wrong; the error was logged.")
    return HttpResponseServerError(get_template("500.html").render())
