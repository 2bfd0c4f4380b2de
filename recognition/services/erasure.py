"""Erasing a person's biometric data, with a signed receipt that proves what was erased.

One implementation for the operator's page, the ``erase_person`` command, the withdrawal
of consent (through the worker) and the retention schedule. What goes: every photo of
the person (enrolled under them, or uploaded by their user account) with its file, every
face (embedding included) in those photos or assigned to them elsewhere, every
identification of those faces or naming them as the candidate. What stays, without
biometric content: the consent history and the access log, the person row itself
pseudonymised (name replaced by the pseudonym, user account unlinked, ``erased_at`` set).

Deleted rows stay in PostgreSQL's data files until the table is rewritten: after the
transaction commits, the affected tables are rewritten with ``VACUUM FULL`` (see
``docs/compliance.md`` for what remains in backups and WAL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from recognition import dbroles
from recognition.access import Access
from recognition.audit import log_access
from recognition.background import after_commit
from recognition.exceptions import ServiceError
from recognition.models import Consent, ErasureReceipt, Face, Identification, Person, Photo, private_storage
from recognition.services import media

logger = logging.getLogger(__name__)

RECEIPT_VERSION = 1
RECEIPT_SALT = "faceweb.erasure-receipt.v1"
RECEIPT_ALGORITHM = f"HMAC-SHA256 (django salted_hmac, salt {RECEIPT_SALT!r}, key SECRET_KEY)"

# Tables that hold (or held) the erased rows; rewritten after an erasure so that no copy of
# a deleted row is left in their data files. Children first: the order VACUUM FULL takes them.
BIOMETRIC_TABLES = ("recognition_identification", "recognition_face", "recognition_photo",
                    "recognition_person")

VACUUM_NOW, VACUUM_QUEUE, VACUUM_SKIP = "now", "queue", "skip"


@dataclass
class _Collected:
    people: list[Person]
    photo_ids: list[int]
    face_ids: list[int]
    identification_ids: list[int]
    files: list[tuple[str, int]] = field(default_factory=list)  # (storage name, photo id)


def _same_human(person: Person) -> list[Person]:
    """The person and every person record merged into them (the same human, earlier records)."""
    people, frontier = [person], [person.pk]
    while frontier:
        merged = list(Person.objects.select_for_update().filter(merged_into_id__in=frontier)
                      .exclude(pk__in=[p.pk for p in people]))
        people += merged
        frontier = [p.pk for p in merged]
    return people


def _collect(person: Person) -> _Collected:
    """What is the data subject's: photos uploaded under their consent (``Photo.person``), never
    those their account uploaded for someone else (an operator enrolling Bob), and their faces."""
    people = _same_human(person)
    ids = [p.pk for p in people]
    # Lock the photos first: a worker processing one of them finishes (or waits) before we count.
    photos = list(Photo.objects.select_for_update().filter(person_id__in=ids).order_by("pk")
                  .values_list("pk", "file"))
    photo_ids = [pk for pk, _ in photos]
    confirmed_elsewhere = Identification.objects.filter(
        candidate_id__in=ids, status=Identification.Status.CONFIRMED).values("face_id")
    face_ids = list(Face.objects.filter(Q(photo_id__in=photo_ids) | Q(person_id__in=ids)
                                        | Q(pk__in=confirmed_elsewhere))
                    .order_by("pk").values_list("pk", flat=True))
    ident_ids = list(Identification.objects.filter(Q(face_id__in=face_ids) | Q(candidate_id__in=ids))
                     .order_by("pk").values_list("pk", flat=True))
    files = [(name, pk) for pk, name in photos if name]
    return _Collected(people, photo_ids, face_ids, ident_ids, files)


def _file_sha256(name: str) -> tuple[str | None, int]:
    storage = private_storage()
    try:
        digest, size = hashlib.sha256(), 0
        with storage.open(name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size
    except FileNotFoundError:
        return None, 0


def canonical_payload(payload: dict[str, Any]) -> bytes:
    """The exact bytes a receipt's signature covers."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_payload(payload: dict[str, Any]) -> str:
    return salted_hmac(RECEIPT_SALT, canonical_payload(payload), algorithm="sha256").hexdigest()


def file_record(photo_id: int, name: str) -> dict[str, Any]:
    """What a receipt says of one erased file: its sha256 and size, read just before deletion."""
    sha, size = _file_sha256(name) if name else (None, 0)
    return {"photo_id": photo_id, "sha256": sha, "bytes": size, **({} if sha else {"missing": True})}


def issue_receipt(*, person_ref: str, actor, reason: str, at, counts: dict[str, int],
                  file_hashes: list[dict], also_pseudonymised: list[str], kept: str) -> ErasureReceipt:
    """Create the signed receipt of an erasure (in the erasure's transaction)."""
    requested_by = actor.get_username() if actor is not None else "system"
    receipt = ErasureReceipt(person_ref=person_ref, requested_by=requested_by, reason=reason, erased_at=at,
                             counts=counts, file_hashes=file_hashes)
    receipt.payload = {
        "version": RECEIPT_VERSION,
        "receipt_id": str(receipt.id),
        "person_ref": person_ref,
        "also_pseudonymised": also_pseudonymised,
        "requested_by": requested_by,
        "reason": reason,
        "erased_at": at.isoformat(timespec="microseconds"),
        "counts": counts,
        "files": file_hashes,
        "kept": kept,
    }
    receipt.signature = sign_payload(receipt.payload)
    receipt.save(force_insert=True)
    return receipt


def erase_person(*, person: Person, actor=None, reason: str, access: Access | None = None,
                 vacuum: str = VACUUM_NOW) -> ErasureReceipt:
    """Erase every piece of ``person``'s biometric data; return the signed receipt.

    ``actor`` is the operator (or the user who withdrew consent); None for the system
    (retention). Idempotent: erasing an already erased person with nothing left returns
    their latest receipt. ``vacuum``: ``now`` rewrites the affected tables right after the
    commit in this process (a worker or a command), ``queue`` sends that to a worker (a web
    request: if the broker is down, the next retention run does it), ``skip`` leaves it to
    the caller (a batch that vacuums once at its end).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Give the reason for the erasure (for example, the request it answers).")
    if len(reason) > 200:
        raise ServiceError("The reason is longer than 200 characters.")
    if vacuum not in (VACUUM_NOW, VACUUM_QUEUE, VACUUM_SKIP):
        raise ValueError(f"vacuum must be one of now, queue, skip; not {vacuum!r}")

    with transaction.atomic():
        person = (Person.objects.select_for_update(of=("self",)).select_related("merged_into")
                  .get(pk=person.pk))
        if person.merged_into_id:
            # Its data moved to the record it was merged into; erasing the shell would erase nothing.
            raise ServiceError(f"{person} was merged into {person.merged_into} (id {person.merged_into_id}), "
                               "which holds the data: erase that person instead (it includes this record).")
        collected = _collect(person)
        nothing_left = not (collected.photo_ids or collected.face_ids or collected.identification_ids)
        if person.erased_at and nothing_left:
            previous = (ErasureReceipt.objects.filter(person_ref=person.pseudonym)
                        .order_by("-erased_at").first())
            if previous is not None:
                return previous

        now = timezone.now()
        file_hashes = [file_record(photo_id, name) for name, photo_id in collected.files]
        people_ids = [p.pk for p in collected.people]
        closed = (Consent.objects.filter(Consent.active_q(at=now), person_id__in=people_ids)
                  .update(withdrawn_at=now))
        counts = {
            "photos": len(collected.photo_ids),
            "files": sum(1 for f in file_hashes if not f.get("missing")),
            "faces": len(collected.face_ids),
            "embeddings": len(collected.face_ids),  # one vector per face row
            "identifications": len(collected.identification_ids),
            "person_records": len(collected.people),
            "consents_closed": closed,
        }
        Identification.objects.filter(pk__in=collected.identification_ids).delete()
        Face.objects.filter(pk__in=collected.face_ids).delete()
        Photo.objects.filter(pk__in=collected.photo_ids).delete()
        for p in collected.people:
            Person.objects.filter(pk=p.pk).update(display_name=p.pseudonym, user=None,
                                                  erased_at=p.erased_at or now)

        receipt = issue_receipt(
            person_ref=person.pseudonym, actor=actor, reason=reason, at=now, counts=counts,
            file_hashes=file_hashes,
            also_pseudonymised=sorted(p.pseudonym for p in collected.people if p.pk != person.pk),
            kept="consent history and access log, with the person pseudonymised")
        log_access(action="person.erase", actor=actor, access=access, obj=receipt,
                   object_type="erasurereceipt", person=person, purpose="erasure",
                   detail={"reason": reason, "counts": counts})

        # Files last, when every row is gone: if the commit still failed, a rerun finds the
        # rows again and records the files as missing, so nothing stays half-erased.
        storage = private_storage()
        for name, _ in collected.files:
            storage.delete(name)
        media.delete_crops(collected.face_ids)  # the cached face crops are biometric data too
        media.delete_thumbnails(collected.photo_ids)
        if vacuum == VACUUM_NOW:
            transaction.on_commit(vacuum_after_commit)
        elif vacuum == VACUUM_QUEUE:
            after_commit("recognition.tasks.vacuum_biometric_tables")
    return receipt


def erase_purpose(*, person: Person, purpose: str, actor=None, reason: str = "",
                  vacuum: str = VACUUM_QUEUE) -> ErasureReceipt | None:
    """Erase what was kept for one purpose that no active consent of ``person`` covers any more.

    enrol: the enrolment photos (with files), every enrolled face, every proposal naming the
    person, and their identity on faces confirmed in other people's photos (unlinked: the
    face stays in that photo, not identified). identify: the photos uploaded under the
    person's identify consent, with files, faces and proposals. The person is not
    pseudonymised (another purpose is still active). Returns None when the purpose is
    covered again (consent given meanwhile) or the person is erased.
    """
    if purpose not in (Photo.Purpose.ENROL, Photo.Purpose.IDENTIFY):
        raise ValueError(f"unknown purpose {purpose!r}")
    reason = reason or f"consent to {purpose} withdrawn"
    field = "purpose_enrol" if purpose == Photo.Purpose.ENROL else "purpose_identify"
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        if person.erased_at or person.merged_into_id:
            return None
        if Consent.objects.filter(Consent.active_q(), person=person, **{field: True}).exists():
            return None  # covered again: nothing to erase
        people = _same_human(person)
        ids = [p.pk for p in people]
        photos = list(Photo.objects.select_for_update().filter(person_id__in=ids, purpose=purpose)
                      .order_by("pk").values_list("pk", "file"))
        photo_ids = [pk for pk, _ in photos]
        faces_q = Q(photo_id__in=photo_ids)
        if purpose == Photo.Purpose.ENROL:
            faces_q |= Q(person_id__in=ids, enrolled=True)
        face_ids = list(Face.objects.filter(faces_q).order_by("pk").values_list("pk", flat=True))
        idents_q = Q(face_id__in=face_ids)
        if purpose == Photo.Purpose.ENROL:
            idents_q |= Q(candidate_id__in=ids)
        ident_ids = list(Identification.objects.filter(idents_q).order_by("pk").values_list("pk", flat=True))
        unlinked = list(Face.objects.filter(person_id__in=ids).exclude(pk__in=face_ids)
                        .values_list("pk", flat=True)) if purpose == Photo.Purpose.ENROL else []

        now = timezone.now()
        files = [(name, pk) for pk, name in photos if name]
        file_hashes = [file_record(photo_id, name) for name, photo_id in files]
        counts = {
            "photos": len(photo_ids),
            "files": sum(1 for f in file_hashes if not f.get("missing")),
            "faces": len(face_ids),
            "embeddings": len(face_ids),
            "identifications": len(ident_ids),
            "faces_unlinked": len(unlinked),
        }
        Identification.objects.filter(pk__in=ident_ids).delete()
        Face.objects.filter(pk__in=unlinked).update(person=None, enrolled=False)
        Face.objects.filter(pk__in=face_ids).delete()
        Photo.objects.filter(pk__in=photo_ids).delete()
        receipt = issue_receipt(
            person_ref=person.pseudonym, actor=actor, reason=reason, at=now, counts=counts,
            file_hashes=file_hashes, also_pseudonymised=[],
            kept="data kept for the person's other active purpose; consent history and access log")
        log_access(action="person.erase_purpose", actor=actor, obj=receipt, object_type="erasurereceipt",
                   person=person, purpose="erasure", detail={"purpose": purpose, "reason": reason,
                                                              "counts": counts})
        storage = private_storage()
        for name, _ in files:
            storage.delete(name)
        media.delete_crops(face_ids)  # the cached face crops are biometric data too
        media.delete_thumbnails(photo_ids)
        if vacuum == VACUUM_NOW:
            transaction.on_commit(vacuum_after_commit)
        elif vacuum == VACUUM_QUEUE:
            after_commit("recognition.tasks.vacuum_biometric_tables")
    return receipt


def vacuum_after_commit() -> None:
    """Rewrite the biometric tables after an erasure's commit: here in a process that holds the
    owner's credentials (a worker, a command), else sent to the maintenance worker. Never
    called from a web request (which queues)."""
    if not dbroles.can_maintain_here():  # no owner credentials in this process: the maintenance worker
        after_commit("recognition.tasks.vacuum_biometric_tables")
        return
    try:
        vacuum_biometric_tables()
    except Exception:  # the erasure itself is committed; a later vacuum (retention) completes it
        logger.exception("VACUUM after erasure failed; it will be retried by the retention task")


def vacuum_biometric_tables(*, full: bool | None = None, lock_timeout_s: int = 60) -> list[str]:
    """Rewrite the biometric tables so that no copy of a deleted row is left in their files.

    Plain VACUUM only marks the space of dead rows reusable: their bytes stay in the pages
    until overwritten. ``VACUUM FULL`` writes a new copy of each table and its indexes and
    drops the old files. Only the tables' owner may do that (PostgreSQL skips the table with
    a mere warning otherwise), so it runs on the maintenance path: a separate connection as
    the owner (``DATABASE_OWNER_URL``, recognition/dbroles.py), never the application's role.
    It takes an exclusive lock per table, table by table (matching waits a moment).
    ``settings.ERASURE_VACUUM_FULL = False`` switches to plain VACUUM for very large
    galleries. Call it after the erasure's commit.
    """
    if connection.in_atomic_block:
        raise RuntimeError("VACUUM cannot run inside a transaction: call it after the commit")
    full = settings.ERASURE_VACUUM_FULL if full is None else full
    verb = "VACUUM (FULL, ANALYZE)" if full else "VACUUM (ANALYZE)"
    with dbroles.owner_connection() as conn, conn.cursor() as cur:
        for table in BIOMETRIC_TABLES:
            dbroles.require_owner(cur, table)
        cur.execute(f"SET lock_timeout = '{int(lock_timeout_s)}s'")
        for table in BIOMETRIC_TABLES:
            cur.execute(f"{verb} {connection.ops.quote_name(table)}")
    return list(BIOMETRIC_TABLES)


# ---------------------------------------------------------------------------------- receipts

@dataclass(frozen=True)
class ReceiptCheck:
    ok: bool
    reason: str


def receipt_document(receipt: ErasureReceipt) -> dict[str, Any]:
    """The downloadable receipt: the signed payload, its signature and how to check it."""
    return {"payload": receipt.payload, "signature": receipt.signature, "algorithm": RECEIPT_ALGORITHM}


def verify_receipt(document: ErasureReceipt | dict[str, Any]) -> ReceiptCheck:
    """Check a receipt's signature (a stored receipt, or a downloaded document).

    A stored receipt is also checked against its own columns, so that editing the row
    without re-signing is caught too.
    """
    if isinstance(document, ErasureReceipt):
        receipt = document
        payload, signature = receipt.payload, receipt.signature
        columns = {"receipt_id": str(receipt.id), "person_ref": receipt.person_ref,
                   "requested_by": receipt.requested_by, "reason": receipt.reason,
                   "counts": receipt.counts, "files": receipt.file_hashes,
                   "erased_at": receipt.erased_at.isoformat(timespec="microseconds")}
        for key, value in columns.items():
            if not isinstance(payload, dict) or payload.get(key) != value:
                return ReceiptCheck(False, f"the stored receipt's {key} differs from its signed payload")
    else:
        if not isinstance(document, dict):
            return ReceiptCheck(False, "not a receipt document (expected a JSON object)")
        payload, signature = document.get("payload"), document.get("signature")
    if not isinstance(payload, dict) or not isinstance(signature, str):
        return ReceiptCheck(False, "not a receipt document: it needs 'payload' (an object) and 'signature'")
    # compare_digest on str accepts ASCII only: compare bytes, so any forged text is just "invalid".
    if not hmac.compare_digest(sign_payload(payload).encode(), str(signature).encode("utf-8", "replace")):
        return ReceiptCheck(False, "the signature does not match the content: the receipt was altered, "
                                   "or it was signed with another server key")
    return ReceiptCheck(True, "the signature matches: this receipt was issued by this server, unaltered")
