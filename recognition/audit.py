"""The access log: one helper that every path uses to record an access to biometric data.

Each entry stores the hash of the entry before it and its own hash (sha256 over a
canonical JSON encoding), so a changed, removed or inserted entry breaks the chain.
Writers take a transaction-scoped advisory lock before reading the chain's head, so
concurrent writers (web processes, workers) append one after another and never fork it.
The table itself refuses UPDATE and DELETE (migration 0003).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from recognition.client import client_ip
from recognition.models import AccessEvent, Person
from recognition.roles import role_of

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 0x6661636577656201  # "faceweb\x01": pg_advisory_xact_lock key of the chain

# The fields covered by the hash, in order. Changing this list breaks every existing chain.
HASHED_FIELDS = ("id", "at", "actor_id", "actor_name", "role", "action", "object_type", "object_id",
                 "person_ref", "purpose", "ip", "request_id", "detail")


def canonical(event: AccessEvent) -> bytes:
    """The exact bytes that an entry's hash covers (its previous hash included)."""
    values: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        value = getattr(event, name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        values[name] = value
    values["prev_hash"] = event.prev_hash
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(event: AccessEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


def person_ref(person: Person | None) -> str:
    return person.pseudonym if person is not None else ""


def log_access(
    *,
    action: str,
    actor=None,
    request=None,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = "",
    person: Person | None = None,
    purpose: str = "",
    detail: dict | None = None,
) -> AccessEvent:
    """Append one event to the access log, in the caller's transaction.

    ``actor`` defaults to ``request.user``; ``obj`` fills the object type and id. Call it
    inside the transaction that performs the access, so the access and its record commit
    or roll back together.
    """
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if obj is not None:
        object_type = object_type or type(obj).__name__.lower()
        object_id = object_id or obj.pk
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AccessEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AccessEvent(
            at=timezone.now(),
            actor=actor,
            actor_name=actor.get_username() if actor else "system",
            role=role_of(actor) if actor else "system",
            action=action,
            object_type=object_type,
            object_id=str(object_id) if object_id not in (None, "") else "",
            person_ref=person_ref(person),
            purpose=purpose,
            ip=client_ip(request),  # canonical, as the inet column returns it: the hash must match
            request_id=getattr(request, "request_id", "") if request is not None else "",
            detail=detail or {},
            prev_hash=last or GENESIS_HASH,
            hash="pending",
        )
        # The id is part of the hash: take it from the sequence first, then insert once.
        with connection.cursor() as cur:
            cur.execute("SELECT nextval(pg_get_serial_sequence('recognition_accessevent', 'id'))")
            event.id = cur.fetchone()[0]
        event.hash = entry_hash(event)
        event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""


def verify_chain(events: Iterable[AccessEvent] | None = None) -> ChainReport:
    """Walk the log in id order; report the first entry whose hashes do not hold."""
    if events is None:
        events = AccessEvent.objects.order_by("id").iterator(chunk_size=2000)
    return _verify(events)


def _verify(events: Iterator[AccessEvent] | Iterable[AccessEvent]) -> ChainReport:
    prev = GENESIS_HASH
    checked = 0
    for event in events:
        if event.prev_hash != prev:
            return ChainReport(False, checked, event.id,
                               "its previous-hash does not match the entry before it (an entry was "
                               "removed, inserted or reordered)")
        if entry_hash(event) != event.hash:
            return ChainReport(False, checked, event.id,
                               "its content does not match its hash (it was altered)")
        prev = event.hash
        checked += 1
    return ChainReport(True, checked)
