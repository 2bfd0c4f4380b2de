"""The access log's keys: an HMAC key that the database never holds, and an Ed25519 signing key.

- The HMAC key (``AUDIT_HMAC_KEY``) keys every entry: ``mac = HMAC-SHA256(key, hash)``. Whoever
  can write the table but does not hold the key cannot produce a valid entry, so a rewritten
  chain shows online. Old keys stay listed for verification after a rotation
  (``AUDIT_HMAC_OLD_KEYS``); keys declared lost (``AUDIT_HMAC_LOST_FINGERPRINTS``) are named
  in reports instead of failing them.
- The Ed25519 key (``AUDIT_SIGNING_KEY``) signs checkpoints and export trailers. Its public
  half is published to auditors, who verify offline without any secret.

Keys are named by fingerprints (a hash prefix that reveals nothing of the key), recorded
in every entry (HMAC) and every checkpoint and export (both).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings


class AuditKeyError(ValueError):
    """A key in the environment is malformed."""


def canonical_json(value: Any) -> bytes:
    """The exact bytes a signature covers: sorted keys, compact separators, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def hmac_fingerprint(key: str | bytes) -> str:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return "hmac:" + hashlib.sha256(b"faceweb-audit-hmac-key\0" + raw).hexdigest()[:16]


def public_fingerprint(public_raw: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_raw).hexdigest()[:16]


def decode_b64(value: str, name: str, size: int = 32) -> bytes:
    """32 raw bytes from standard or URL-safe base64 (padding optional)."""
    text = value.strip()
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4),
                               validate=True)
    except (binascii.Error, ValueError):
        raise AuditKeyError(f"{name} is not base64") from None
    if len(raw) != size:
        raise AuditKeyError(f"{name} must decode to {size} bytes, not {len(raw)}")
    return raw


def encode_b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# ------------------------------------------------------------------------------------- HMAC

def hmac_keys() -> dict[str, bytes]:
    """Every HMAC key this server can verify with, by fingerprint (the current one first)."""
    keys = [settings.AUDIT_HMAC_KEY, *settings.AUDIT_HMAC_OLD_KEYS]
    return {hmac_fingerprint(k): k.encode("utf-8") for k in keys if k}


def current_hmac() -> tuple[str, bytes]:
    key = settings.AUDIT_HMAC_KEY.encode("utf-8")
    return hmac_fingerprint(key), key


def entry_mac(key: bytes, entry_hash: str) -> str:
    return hmac.new(key, entry_hash.encode("ascii"), hashlib.sha256).hexdigest()


def lost_hmac_fingerprints() -> set[str]:
    return set(settings.AUDIT_HMAC_LOST_FINGERPRINTS)


# ------------------------------------------------------------------------------- Ed25519

@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    public_raw: bytes

    @property
    def fingerprint(self) -> str:
        return public_fingerprint(self.public_raw)

    @property
    def public_b64(self) -> str:
        return encode_b64(self.public_raw)

    def sign(self, payload: dict[str, Any]) -> str:
        return encode_b64(self.private.sign(canonical_json(payload)))


@cache
def _signing_key(seed_b64: str) -> SigningKey:
    private = Ed25519PrivateKey.from_private_bytes(decode_b64(seed_b64, "AUDIT_SIGNING_KEY"))
    return SigningKey(private, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def signing_key() -> SigningKey:
    return _signing_key(settings.AUDIT_SIGNING_KEY)


def verify_keys() -> dict[str, bytes]:
    """Public keys that signatures are accepted from, by fingerprint: ours and earlier ones."""
    keys = {signing_key().fingerprint: signing_key().public_raw}
    for b64 in settings.AUDIT_VERIFY_KEYS:
        raw = decode_b64(b64, "AUDIT_VERIFY_KEYS")
        keys[public_fingerprint(raw)] = raw
    return keys


def verify_signature(public_raw: bytes, payload: dict[str, Any], signature: str) -> bool:
    """Whether ``signature`` (base64) is the Ed25519 signature of ``payload``'s canonical JSON."""
    try:
        sig = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, canonical_json(payload))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


def new_keys() -> dict[str, str]:
    """Fresh keys for the environment (``manage.py audit_keys --generate``)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    hmac_key = secrets.token_urlsafe(48)
    return {"AUDIT_HMAC_KEY": hmac_key, "AUDIT_SIGNING_KEY": encode_b64(seed),
            "public_key": encode_b64(public), "public_fingerprint": public_fingerprint(public),
            "hmac_fingerprint": hmac_fingerprint(hmac_key)}
