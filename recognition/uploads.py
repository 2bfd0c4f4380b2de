"""Upload size limits enforced while the request body streams in, not after it was read.

Two layers: :class:`RequestBodyLimit` (WSGI, in ``faceweb/wsgi.py``) refuses a request
whose declared ``Content-Length`` is over ``REQUEST_MAX_BYTES`` with 413 before a byte of
its body is read; :class:`SizeLimitedUploadHandler` stops parsing a multipart body as soon
as one file passes ``UPLOAD_MAX_BYTES`` (the rest is not read, nothing is stored), and the
view answers 400 naming the file (:func:`refused_upload`).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class SizeLimitedUploadHandler(FileUploadHandler):
    """First in ``FILE_UPLOAD_HANDLERS``: counts each file's bytes as they arrive."""

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        limit = settings.UPLOAD_MAX_BYTES
        if self.received > limit:
            self.request.upload_refused = (f"{self.file_name}: the file is larger than the limit of "
                                           f"{limit / 1e6:.1f} MB.")
            # connection_reset: do not read the rest of the body at all.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) keeps the file


def refused_upload(request) -> str | None:
    """Why the upload handler stopped reading this request's body, if it did."""
    django_request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    return getattr(django_request, "upload_refused", None)


class RequestBodyLimit:
    """WSGI middleware: 413 for a body declared larger than ``max_bytes``, before reading it."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_bytes:
            message = (f"The request is {length / 1e6:.1f} MB; the limit is {self.max_bytes / 1e6:.1f} MB. "
                       "Send fewer or smaller photos at a time.")
            body = json.dumps({"error": {"code": "too_large", "message": message, "fields": {}}}).encode()
            start_response("413 Request Entity Too Large", [
                ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                ("Connection", "close")])
            return [body]
        return self.app(environ, start_response)
