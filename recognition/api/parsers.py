"""Request parsing that refuses what the database could not store."""

from __future__ import annotations

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    """JSON whose strings are valid Unicode: a lone surrogate (``"\\ud800"``) is valid JSON syntax
    but cannot be encoded as UTF-8, so it would fail deep inside a service or the database."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParseError("The JSON contains text that is not valid Unicode (a lone surrogate).") from exc
        return data
