"""Signed checkpoints of the access log, kept outside the database.

A checkpoint states the chain's head (its id and hash) and the number of entries up to
it, when, and with which keys, signed with the Ed25519 audit key. It is a JSON file in
``AUDIT_CHECKPOINT_DIR``, a folder that the database role cannot reach. The log as it was
then cannot be rewritten, cut short or reordered afterwards without the checkpoint saying
so (``recognition.audit.verify_chain``), and an export that carries the checkpoint proves
the same offline. Before signing, the entries since the previous checkpoint are checked
(links, hashes, HMACs): a checkpoint never seals a chain that was already tampered with.

Celery beat writes one every ``AUDIT_CHECKPOINT_INTERVAL_S`` seconds (when the log has
grown); ``manage.py audit_checkpoint`` writes one now.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recognition import auditkeys
from recognition.audit import GENESIS_HASH, verify_chain
from recognition.models import AccessEvent

logger = logging.getLogger(__name__)

VERSION = 1


class CheckpointRefused(RuntimeError):
    """The chain since the last checkpoint does not hold: nothing is signed."""


@dataclass(frozen=True)
class Checkpoint:
    name: str
    payload: dict[str, Any]
    signature: str
    valid: bool
    problem: str = ""

    @property
    def document(self) -> dict[str, Any]:
        return {"payload": self.payload, "signature": self.signature}

    @property
    def digest(self) -> str:
        return hashlib.sha256(auditkeys.canonical_json(self.document)).hexdigest()


def checkpoint_dir() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_DIR)


def check_document(document: Any, name: str = "", public_keys: dict[str, bytes] | None = None) -> Checkpoint:
    """A checkpoint from its JSON document, its signature checked against ``public_keys``
    (default: this server's key and the earlier ones in ``AUDIT_VERIFY_KEYS``)."""
    if not isinstance(document, dict) or not isinstance(document.get("payload"), dict):
        return Checkpoint(name, {}, "", False, "not a checkpoint document")
    payload, signature = document["payload"], document.get("signature", "")
    missing = {"head_id", "head_hash", "count", "at", "signing_key"} - set(payload)
    if missing:
        return Checkpoint(name, payload, signature, False, f"fields missing: {sorted(missing)}")
    keys = auditkeys.verify_keys() if public_keys is None else public_keys
    public = keys.get(payload["signing_key"])
    if public is None:
        return Checkpoint(name, payload, signature, False, f"signed by unknown key {payload['signing_key']}")
    if not auditkeys.verify_signature(public, payload, str(signature)):
        return Checkpoint(name, payload, signature, False, "the signature does not match the content")
    return Checkpoint(name, payload, signature, True)


def load_checkpoints(directory: Path | None = None) -> list[Checkpoint]:
    """Every checkpoint in the folder, oldest first, each with its signature checked."""
    directory = directory or checkpoint_dir()
    found = []
    for path in sorted(directory.glob("checkpoint-*.json")) if directory.is_dir() else []:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            found.append(Checkpoint(path.name, {}, "", False, f"unreadable: {exc}"))
            continue
        found.append(check_document(document, path.name))
    return sorted(found, key=lambda c: (c.payload.get("head_id", 0), c.payload.get("at", ""), c.name))


def latest_checkpoint(directory: Path | None = None) -> Checkpoint | None:
    """The newest checkpoint with a valid signature (names sort by head id, then time: only the
    newest files are read, however many there are)."""
    directory = directory or checkpoint_dir()
    for path in sorted(directory.glob("checkpoint-*.json"), reverse=True) if directory.is_dir() else []:
        try:
            checkpoint = check_document(json.loads(path.read_text(encoding="utf-8")), path.name)
        except (OSError, ValueError):
            continue
        if checkpoint.valid:
            return checkpoint
    return None


def _check_since(previous: Checkpoint | None, head_id: int) -> None:
    """Check the entries after the previous checkpoint up to ``head_id`` before sealing them."""
    after = previous.payload["head_id"] if previous else 0
    start_hash = previous.payload["head_hash"] if previous else GENESIS_HASH
    if previous is not None:
        anchor = AccessEvent.objects.filter(id=after).values_list("hash", flat=True).first()
        if anchor != start_hash:
            raise CheckpointRefused(f"entry {after}, sealed by the previous checkpoint, is gone or changed")
    keyed_before = AccessEvent.objects.filter(id__lte=after).exclude(mac="").exists()
    events = AccessEvent.objects.filter(id__gt=after, id__lte=head_id).order_by("id")
    report = verify_chain(events.iterator(chunk_size=2000), checkpoints=[], start_hash=start_hash,
                          keyed_before=keyed_before)
    if not report.ok:
        raise CheckpointRefused(f"entry {report.first_broken_id}: {report.reason}")


def write_checkpoint(*, force: bool = False, directory: Path | None = None) -> Checkpoint | None:
    """Sign the chain's current head into a new checkpoint file; None when nothing was added
    since the last one (unless ``force``). Raises CheckpointRefused when the chain since the
    last checkpoint does not hold."""
    directory = directory or checkpoint_dir()
    directory.mkdir(parents=True, exist_ok=True)
    previous = latest_checkpoint(directory)
    with transaction.atomic():
        head = AccessEvent.objects.order_by("-id").values_list("id", "hash").first()
        if head is None:
            return None
        head_id, head_hash = head
        if previous and previous.payload["head_id"] == head_id and not force:
            return None
        count = AccessEvent.objects.filter(id__lte=head_id).count()
        _check_since(previous, head_id)
    key = auditkeys.signing_key()
    payload = {
        "version": VERSION,
        "head_id": head_id,
        "head_hash": head_hash,
        "count": count,
        "at": timezone.now().isoformat(timespec="microseconds"),
        "signing_key": key.fingerprint,
        "hmac_keys": list(auditkeys.hmac_keys()),  # the current key first
        "previous": previous.digest if previous else None,
    }
    checkpoint = Checkpoint("", payload, key.sign(payload), True)
    name = f"checkpoint-{head_id:015d}-{timezone.now():%Y%m%dT%H%M%S%f}Z.json"
    tmp = directory / f".{name}.tmp"
    tmp.write_text(json.dumps(checkpoint.document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, directory / name)  # readers never see half a file
    logger.info("audit checkpoint: entry %s, %s entries, %s", head_id, count, name)
    return Checkpoint(name, payload, checkpoint.signature, True)
