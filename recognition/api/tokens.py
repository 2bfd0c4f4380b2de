"""Personal API tokens: created by a user for themselves, shown once, stored as a sha256, revocable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from recognition.exceptions import NotFound, ServiceError
from recognition.models import ApiToken

KEY_PREFIX = "fw_"
PREFIX_LENGTH = 10  # "fw_" and 7 random characters: enough to tell tokens apart in a list
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
MAX_ACTIVE_TOKENS = 20


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # the secret: returned once, never stored


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_token(*, user, name: str) -> IssuedToken:
    """Issue a token for ``user``; only its hash is kept, so the key must be shown now or never."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the token a name, e.g. the system that will use it.")
    if len(name) > 100:
        raise ServiceError("The token name is longer than 100 characters.")
    if active_tokens_for(user).count() >= MAX_ACTIVE_TOKENS:
        raise ServiceError(f"You already have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=key[:PREFIX_LENGTH], key_hash=hash_key(key))
    return IssuedToken(token=token, key=key)


def revoke_token(*, token: ApiToken) -> ApiToken:
    """Revoke a token (idempotent); it is refused from the next request on."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def tokens_for(user):
    return ApiToken.objects.filter(user=user)


def active_tokens_for(user):
    return tokens_for(user).filter(revoked_at__isnull=True)


def token_for(user, token_id: int) -> ApiToken:
    token = tokens_for(user).filter(pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    return token


def authenticate_key(key: str) -> ApiToken | None:
    """The active token with this key, its use recorded (at most once a minute); None otherwise."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_EVERY)).update(last_used_at=now)
        token.last_used_at = now
    return token
