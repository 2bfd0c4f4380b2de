"""The access log: one helper that every path uses to record an access to biometric data.

Each entry stores the hash of the entry before it and its own hash (sha256 over a
canonical JSON encoding): a plain hash chain that anyone can recompute, offline, without
any secret. Each entry also carries ``mac = HMAC-SHA256(key, hash)`` under a key from
the environment that the database never holds (recognition/auditkeys.py), so whoever can
write the table cannot rebuild a chain that verifies online; signed checkpoints of the
chain's head, kept outside the database (recognition/checkpoints.py), show a rewrite or
a truncation up to the latest checkpoint, online and offline.

Entries are chained at commit, not when they are logged: ``log_access`` queues the entry
on the connection, and the database backend (faceweb/dbbackend) appends the queued
entries just before the transaction commits, under a transaction-scoped advisory lock.
The lock is held only for that append and the commit, never through the caller's work,
so one slow transaction does not hold every other log writer back. An entry whose
transaction (or savepoint) rolls back is never written. The table refuses UPDATE and
DELETE (migration 0003), and the application's role may only INSERT (migration 0007).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from recognition import auditkeys
from recognition.access import Access
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
    access: Access | None = None,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = "",
    person: Person | None = None,
    purpose: str = "",
    detail: dict | None = None,
) -> AccessEvent:
    """Record one access, in the caller's transaction.

    ``actor`` defaults to ``access.actor`` (recognition.access: the request's or task's
    context, which also gives the address and request id); ``obj`` fills the object type
    and id. Call it
    inside the transaction that performs the access, so the access and its record commit
    or roll back together. The entry is appended to the chain when that transaction
    commits: until then the returned event has no ``id`` and no ``hash``; after the commit
    (or at once, outside a transaction) it has both.
    """
    if actor is None and access is not None:
        actor = access.actor
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if obj is not None:
        object_type = object_type or type(obj).__name__.lower()
        object_id = object_id or obj.pk
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
        ip=access.ip if access is not None else None,  # canonical (client_ip): the hash must match
        request_id=access.request_id if access is not None else "",
        detail=detail or {},
        prev_hash="",
        hash="pending",
    )
    if _open_depth(connection):
        _queue(connection, event)
    else:
        with transaction.atomic():  # commits (or, under a test's transaction, releases) here
            _queue(connection, event)
    return event


# ------------------------------------------------------------------ appending at commit time

def _open_depth(conn) -> int:
    """Atomic blocks that will commit on exit (a test case's own wrapping block never does)."""
    return sum(1 for block in conn.atomic_blocks if not getattr(block, "_from_testcase", False))


def _queue(conn, event: AccessEvent) -> None:
    pending = getattr(conn, "audit_pending", None)
    if pending is None:
        raise RuntimeError("the database ENGINE must be faceweb.dbbackend for the access log")
    # The savepoints open now: rolling back to any of them discards this entry.
    pending.append((event, tuple(conn.savepoint_ids)))


_INSERT = (
    "INSERT INTO recognition_accessevent (id, at, actor_id, actor_name, role, action, object_type, "
    "object_id, person_ref, purpose, ip, request_id, detail, prev_hash, hash, mac, key_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s, %s::jsonb, %s, %s, %s, %s)"
)


@dataclass
class ChainStats:
    """Counters of this process's appends (read by the concurrency benchmark)."""

    appends: int = 0
    entries: int = 0
    wait_s: float = 0.0  # waiting for the chain lock
    hold_s: float = 0.0  # holding it: head read, hashing, insert, commit
    max_hold_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self.lock:
            self.appends = self.entries = 0
            self.wait_s = self.hold_s = self.max_hold_s = 0.0


CHAIN_STATS = ChainStats()


def flush_pending(conn) -> tuple[float, int] | None:
    """Append the connection's queued entries to the chain (the backend calls this just before
    COMMIT). Returns when the lock was taken and how many entries were appended, or None."""
    pending, conn.audit_pending = conn.audit_pending, []
    if not pending:
        return None
    events = [event for event, _ in pending]
    fingerprint, key = auditkeys.current_hmac()
    asked = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        locked = time.perf_counter()
        cur.execute("SELECT hash FROM recognition_accessevent ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
        prev = row[0] if row else GENESIS_HASH
        # Ids come from the sequence under the lock: id order is chain order.
        cur.execute("SELECT nextval(pg_get_serial_sequence('recognition_accessevent', 'id')) "
                    "FROM generate_series(1, %s)", [len(events)])
        ids = sorted(r[0] for r in cur.fetchall())
        rows = []
        for event, event_id in zip(events, ids, strict=True):
            event.id, event.prev_hash = event_id, prev
            event.hash = entry_hash(event)
            event.mac, event.key_id = auditkeys.entry_mac(key, event.hash), fingerprint
            prev = event.hash
            rows.append((event.id, event.at, event.actor_id, event.actor_name, event.role, event.action,
                         event.object_type, event.object_id, event.person_ref, event.purpose, event.ip,
                         event.request_id, json.dumps(event.detail, ensure_ascii=False), event.prev_hash,
                         event.hash, event.mac, event.key_id))
        cur.executemany(_INSERT, rows)
    with CHAIN_STATS.lock:
        CHAIN_STATS.wait_s += locked - asked
    return locked, len(events)


def note_committed(locked_at: float, entries: int) -> None:
    """The transaction that appended ``entries`` committed: the chain lock is released."""
    held = time.perf_counter() - locked_at
    with CHAIN_STATS.lock:
        CHAIN_STATS.appends += 1
        CHAIN_STATS.entries += entries
        CHAIN_STATS.hold_s += held
        CHAIN_STATS.max_hold_s = max(CHAIN_STATS.max_hold_s, held)


def discard_pending(conn, savepoint: str | None = None) -> None:
    """Forget queued entries: all of them (rollback) or those made inside ``savepoint``."""
    if savepoint is None:
        conn.audit_pending = []
    else:
        conn.audit_pending = [(e, sps) for e, sps in conn.audit_pending if savepoint not in sps]


def flush_on_release(conn) -> tuple[float, int] | None:
    """After a savepoint release: append if no block that commits is left open (under a test
    case's never-committed transaction, that release is the commit as far as the code knows)."""
    if conn.audit_pending and not _open_depth(conn):
        return flush_pending(conn)
    return None


# ----------------------------------------------------------------------------- verification

@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""
    macs_checked: int = 0
    legacy_unkeyed: int = 0  # entries written before keyed entries existed (a prefix only)
    lost_key_entries: int = 0  # keyed with a key declared lost: covered by checkpoints only
    hmac_keys: tuple[str, ...] = ()  # fingerprints of the keys the entries were checked with
    checkpoints_checked: int = 0
    latest_checkpoint: dict | None = None  # its payload
    signing_keys: tuple[str, ...] = ()

    def summary(self) -> str:
        """What was checked, in one paragraph (for the command and the pages)."""
        cp = self.latest_checkpoint
        parts = [f"{self.checked} entries: every hash and previous-hash link recomputed",
                 f"{self.macs_checked} HMACs checked with key(s) {', '.join(self.hmac_keys) or '-'}"]
        if self.legacy_unkeyed:
            parts.append(f"{self.legacy_unkeyed} unkeyed entries from before keying (covered by checkpoints)")
        if self.lost_key_entries:
            parts.append(f"{self.lost_key_entries} entries under lost keys (covered by checkpoints only)")
        if cp:
            parts.append(f"{self.checkpoints_checked} signed checkpoint(s) matched, the latest at entry "
                         f"{cp['head_id']} ({cp['count']} entries, {cp['at']}, signed by "
                         f"{cp['signing_key']})")
        else:
            parts.append("no checkpoint yet: truncation is not detectable until one is written")
        return "; ".join(parts)


class ChainWalker:
    """Checks entries one at a time, in id order (``verify_chain`` and the export use it).

    Each entry's hash and previous-hash link, its HMAC under the key it names, and every
    signed checkpoint (recognition/checkpoints.py): the entry it sealed must come, with
    the same hash, after exactly as many entries.
    """

    def __init__(self, checkpoints, *, start_hash: str = GENESIS_HASH, keyed_before: bool = False):
        self.checked = self.macs = self.legacy = self.lost = self.cps = 0
        self.keys: set[str] = set()
        self.signers: set[str] = set()
        self.failure: tuple[int | None, str] | None = None
        self.prev, self.keyed_seen = start_hash, keyed_before
        self.head: tuple[int, str] | None = None
        self.sealed: dict[int, list[dict]] = {}
        self._keys, self._lost = auditkeys.hmac_keys(), auditkeys.lost_hmac_fingerprints()
        self.checkpoints = list(checkpoints)
        for cp in self.checkpoints:
            if not cp.valid:
                self.failure = (None, f"checkpoint {cp.name} has no valid signature from a known key "
                                      f"({cp.problem})")
                return
            self.signers.add(cp.payload["signing_key"])
            self.sealed.setdefault(cp.payload["head_id"], []).append(cp.payload)

    def feed(self, event) -> bool:
        """Check one more entry; False (and ``failure`` set) once something does not hold."""
        if self.failure:
            return False
        problem = self._problem(event)
        if problem:
            self.failure = (event.id, problem)
            return False
        self.checked += 1
        for payload in self.sealed.pop(event.id, ()):
            if payload["head_hash"] != event.hash or payload["count"] != self.checked:
                self.failure = (event.id, f"it differs from the checkpoint of {payload['at']} (hash or "
                                          "number of entries before it): the log up to it was rewritten")
                return False
            self.cps += 1
        self.prev, self.head = event.hash, (event.id, event.hash)
        return True

    def _problem(self, event) -> str:
        if event.prev_hash != self.prev:
            return ("its previous-hash does not match the entry before it (an entry was removed, inserted "
                    "or reordered)")
        if entry_hash(event) != event.hash:
            return "its content does not match its hash (it was altered)"
        if not event.mac and not event.key_id:
            if self.keyed_seen:
                return ("it has no HMAC although earlier entries have one (it was rewritten by someone "
                        "without the key)")
            self.legacy += 1
        elif event.key_id in self._keys:
            self.keyed_seen = True
            if auditkeys.entry_mac(self._keys[event.key_id], event.hash) != event.mac:
                return ("its HMAC does not match: it was written or rewritten without the audit key (the "
                        "chain from here was rebuilt)")
            self.macs += 1
            self.keys.add(event.key_id)
        elif event.key_id in self._lost:
            self.keyed_seen = True
            self.lost += 1
        else:
            return (f"it names HMAC key {event.key_id!r}, which this server does not hold and which is not "
                    "declared lost")
        return ""

    def report(self) -> ChainReport:
        failure = self.failure
        if failure is None and self.sealed:
            head_id = min(self.sealed)
            payload = self.sealed[head_id][0]
            failure = (head_id, f"the checkpoint of {payload['at']} sealed entry {head_id} "
                                f"({payload['count']} entries) and it is gone: the log was truncated or "
                                "rewritten")
        valid = [c for c in self.checkpoints if c.valid]
        latest = max(valid, key=lambda c: (c.payload["head_id"], c.payload["at"])) if valid else None
        return ChainReport(failure is None, self.checked, failure[0] if failure else None,
                           failure[1] if failure else "", self.macs, self.legacy, self.lost,
                           tuple(sorted(self.keys)), self.cps, latest.payload if latest else None,
                           tuple(sorted(self.signers)))


def verify_chain(events: Iterable[AccessEvent] | None = None, *, checkpoints=None,
                 start_hash: str = GENESIS_HASH, keyed_before: bool = False) -> ChainReport:
    """Walk the log in id order; report the first entry that does not hold (see ChainWalker).

    ``checkpoints`` defaults to those in ``AUDIT_CHECKPOINT_DIR``. ``start_hash`` and
    ``keyed_before`` describe what precedes ``events`` when they are a segment of the log.
    """
    from recognition import checkpoints as cps  # checkpoints imports this module: a real circle

    if events is None:
        events = AccessEvent.objects.order_by("id").iterator(chunk_size=2000)
    walker = ChainWalker(cps.load_checkpoints() if checkpoints is None else checkpoints,
                         start_hash=start_hash, keyed_before=keyed_before)
    for event in events:
        if not walker.feed(event):
            break
    return walker.report()
