"""Request rates per token (per user for sessions, per address for anonymous), counted in Redis.

Counting in Redis rather than the process-local cache makes the limit hold across web
processes. Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` ("token", "anon"),
read at each request so that they can be changed in settings.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from recognition.models import ApiToken


@cache
def _redis_cache() -> RedisCache:
    return RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "faceweb-api-throttle", "TIMEOUT": 3600})


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def __init__(self):
        self.cache = _redis_cache()
        super().__init__()

    def get_rate(self):
        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        return rates.get(self.scope)

    def allow_request(self, request, view):
        self.scope = "token" if request.user and request.user.is_authenticated else "anon"
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiToken):
            # The hash is unique for ever (ids may be reused by a fresh database).
            ident = "token-" + request.auth.key_hash[:24]
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}-{request.user.date_joined.timestamp():.0f}"
        else:
            ident = "ip-" + (self.get_ident(request) or "unknown")
        return self.cache_format % {"scope": self.scope, "ident": ident}
