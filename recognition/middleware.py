import re
import uuid

from django.conf import settings
from django.http import Http404

from recognition.exceptions import NotFound

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give each request an id (from ``X-Request-ID`` when sane) for logs and the access log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class ContentSecurityPolicyMiddleware:
    """Send ``settings.CONTENT_SECURITY_POLICY`` with every response that has none of its own.

    Pages load scripts and styles from our static files only (no inline code), so the
    policy forbids everything else. A view may set its own (the API docs need inline styles).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


class DomainErrorMiddleware:
    """Pages: a selector's or service's ``NotFound`` is Django's 404 (the app's 404 page).

    Selectors and services know nothing of HTTP; this is where the pages translate. (The
    API translates in its exception handler, recognition.api.exceptions.)
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        return None
