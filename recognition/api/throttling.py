"""Request rates per token (per user for sessions, per address for anonymous), counted in Redis.

Counting in Redis rather than the process-local cache makes the limit hold across web
processes. Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` ("token", "anon"),
read at each request so that they can be changed in settings.

When Redis cannot be reached the throttle fails open to a limiter local to the process
(the same rates, counted in memory): an outage of the counter must not turn every API
call into an error, and a client still cannot hammer one web process unchecked.
"""

from __future__ import annotations

import logging
import time
from functools import cache

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from recognition.client import client_ip
from recognition.models import ApiToken

logger = logging.getLogger(__name__)
_WARN_EVERY_S = 60.0
_last_warning = 0.0


@cache
def _redis_cache() -> RedisCache:
    return RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "faceweb-api-throttle", "TIMEOUT": 3600,
                                           "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}})


@cache
def _local_cache() -> LocMemCache:
    return LocMemCache("faceweb-api-throttle-fallback", {"TIMEOUT": 3600, "OPTIONS": {"MAX_ENTRIES": 10000}})


def _warn_fallback(exc: Exception) -> None:
    """One warning a minute per process, not one per request."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= _WARN_EVERY_S:
        _last_warning = now
        logger.warning("API throttle: Redis unreachable (%s: %s); counting in this process until it is back",
                       type(exc).__name__, exc)


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
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # noqa: BLE001 - any Redis failure: fail open to the local limiter
            _warn_fallback(exc)
            self.cache = _local_cache()
            return super().allow_request(request, view)

    def get_ident(self, request) -> str:
        """The client address as the rest of the product sees it (trusted proxies only)."""
        return client_ip(request) or "unknown"

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiToken):
            # The hash is unique for ever (ids may be reused by a fresh database).
            ident = "token-" + request.auth.key_hash[:24]
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}-{request.user.date_joined.timestamp():.0f}"
        else:
            ident = "ip-" + self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
