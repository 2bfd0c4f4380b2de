"""Reviewers' decisions on proposed identifications, and keeping people tidy (merge, unassign).

Semantics, in one place:

- **confirm** an identification: it becomes CONFIRMED and the face is assigned to the
  candidate (``Face.person``). The face is *not* enrolled: only enrolment photos, given
  under an enrol consent, add faces to a person's gallery. The face's other pending
  proposals become REJECTED (the face is now known to be someone else's).
- **reject** an identification: it becomes REJECTED; the face's other proposals stay
  pending, so the face stays in the queue with its next candidate.
- **mark unknown**: every pending proposal of the face is REJECTED and the face keeps no
  person (a face assigned earlier is left as it was: use unassign for that).
- **assign** a face to a person (another one than proposed): ``Face.person`` is set;
  a proposal of the face for that person (pending or not) becomes CONFIRMED, every other
  pending proposal of the face is REJECTED.
- **merge** B into A (two records of one human): B's faces, photos, consents and
  identifications move to A; B is kept as an empty shell with ``merged_into=A`` so that
  links and the access log still resolve. When a face has proposals for both A and B,
  A's keeps the stronger verdict (CONFIRMED > REJECTED > PENDING > SUPERSEDED) and the
  smaller distance, and B's becomes SUPERSEDED (it stays, candidate B, as history).
- **undo**: the reviewer who made a face's latest decision may take it back for a few
  minutes: the proposals it decided are pending again and the face's person is what it
  was before (unless someone changed the face since).
- **unassign** a face: ``Face.person`` is cleared, the face leaves the gallery if it was
  enrolled, and a confirmation of that person for it is turned into a rejection.

Every decision writes the access log in the same transaction, one entry per face.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recognition.access import Access
from recognition.audit import log_access
from recognition.exceptions import Conflict, ConsentRequired, NotAllowed, ServiceError
from recognition.models import AccessEvent, Consent, Face, Identification, Person, Photo
from recognition.services.consent import active_consent, lock_people

CONFIRM = "confirm"
REJECT = "reject"
UNKNOWN = "unknown"
ASSIGN = "assign"
ACTIONS = (CONFIRM, REJECT, UNKNOWN, ASSIGN)

Status = Identification.Status
_VERDICT_STRENGTH = {Status.CONFIRMED: 3, Status.REJECTED: 2, Status.PENDING: 1, Status.SUPERSEDED: 0}


def confidence_label(distance: float, threshold: float | None = None) -> tuple[str, str]:
    """The distance in plain language, and a level for styling: (label, "high"|"medium"|"low"|"none").

    dlib's embedding space: below 0.6 is the same person for a 1:1 comparison; the
    smaller, the surer.
    """
    threshold = settings.MATCH_THRESHOLD if threshold is None else threshold
    if distance < min(0.4, threshold):
        return "very likely the same person", "high"
    if distance < min(0.5, threshold):
        return "likely the same person", "medium"
    if distance <= threshold:
        return "possibly the same person", "low"
    return "unlikely to be the same person", "none"


@dataclass
class DecisionResult:
    """What a decision did: the identifications it decided and the faces it touched."""

    decided: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # no longer pending (someone decided first)
    faces: set[int] = field(default_factory=set)

    def merge(self, other: DecisionResult) -> None:
        self.decided += other.decided
        self.skipped += other.skipped
        self.faces |= other.faces


def _locked_face_proposals(face_id: int) -> list[Identification]:
    """The face's identifications, locked for this transaction (two reviewers on one face queue up)."""
    return list(Identification.objects.select_for_update().filter(face_id=face_id).order_by("rank", "id"))


def _set(idents: Iterable[Identification], status: str, *, reviewer, now) -> list[int]:
    ids = [i.pk for i in idents]
    if ids:
        Identification.objects.filter(pk__in=ids).update(status=status, decided_by=reviewer, decided_at=now)
    return ids


def require_can_receive_faces(person_id: int) -> Person:
    """The person a face is confirmed or assigned to: existing, not erased, not merged away, and
    with an active enrol consent (docs/rules.md, section 5); refused with a message otherwise.

    Their row is locked (shared) until the decision commits: a withdrawal waits for it and its
    erasure then takes the face back, or it committed first and the decision is refused.
    """
    lock_people([person_id])
    person = Person.objects.select_related("merged_into").filter(pk=person_id).first()
    if person is None or person.erased_at:
        raise ServiceError("That person's data was erased: a face cannot be assigned or confirmed to them.")
    if person.merged_into_id:
        raise ServiceError(f"{person} was merged into {person.merged_into}: assign the face to them instead.")
    if active_consent(person, Photo.Purpose.ENROL) is None:
        raise ConsentRequired(f"{person} has no active consent to enrolment: a face cannot be assigned or "
                              "confirmed to someone who has not agreed to be recognised.")
    return person


def _load_pending(identification: Identification | int) -> tuple[Identification, list[Identification]]:
    ident_id = identification if isinstance(identification, int) else identification.pk
    face_id = Identification.objects.filter(pk=ident_id).values_list("face_id", flat=True).first()
    if face_id is None:
        raise ServiceError(f"There is no identification {ident_id}.")
    proposals = _locked_face_proposals(face_id)
    current = next(i for i in proposals if i.pk == ident_id)
    return current, proposals


@transaction.atomic
def confirm(*, identification: Identification | int, reviewer,
            access: Access | None = None) -> DecisionResult:
    """The face is the candidate: assign it (not enrol it); its other pending proposals are rejected."""
    ident, proposals = _load_pending(identification)
    if ident.status != Status.PENDING:
        raise Conflict(f"This proposal was already {ident.get_status_display().lower()}.")
    candidate = require_can_receive_faces(ident.candidate_id)
    now = timezone.now()
    _set([ident], Status.CONFIRMED, reviewer=reviewer, now=now)
    others = _set([i for i in proposals if i.pk != ident.pk and i.status == Status.PENDING], Status.REJECTED,
                  reviewer=reviewer, now=now)
    face = Face.objects.select_related("photo").get(pk=ident.face_id)
    previous = face.person_id
    face.person_id = ident.candidate_id
    face.save(update_fields=["person"])
    log_access(action="identification.confirm", actor=reviewer, access=access, obj=ident, person=candidate,
               purpose="review", detail={"face": face.pk, "distance": round(ident.distance, 4),
                                         "rejected_others": others, "person": candidate.pk,
                                         "previous_person": previous})
    return DecisionResult(decided=[ident.pk, *others], faces={face.pk})


@transaction.atomic
def reject(*, identification: Identification | int, reviewer, access: Access | None = None) -> DecisionResult:
    """The face is not the candidate; its other proposals stay in the queue."""
    ident, _ = _load_pending(identification)
    if ident.status != Status.PENDING:
        raise Conflict(f"This proposal was already {ident.get_status_display().lower()}.")
    _set([ident], Status.REJECTED, reviewer=reviewer, now=timezone.now())
    log_access(action="identification.reject", actor=reviewer, access=access, obj=ident,
               person=ident.candidate, purpose="review",
               detail={"face": ident.face_id, "distance": round(ident.distance, 4)})
    return DecisionResult(decided=[ident.pk], faces={ident.face_id})


@transaction.atomic
def mark_unknown(*, face: Face | int, reviewer, access: Access | None = None) -> DecisionResult:
    """None of the candidates: every pending proposal of the face is rejected; no person is set."""
    face_id = face if isinstance(face, int) else face.pk
    proposals = _locked_face_proposals(face_id)
    pending = [i for i in proposals if i.status == Status.PENDING]
    if not pending:
        raise Conflict("This face has no pending proposal left.")
    ids = _set(pending, Status.REJECTED, reviewer=reviewer, now=timezone.now())
    log_access(action="face.mark_unknown", actor=reviewer, access=access, object_type="face",
               object_id=face_id, purpose="review", detail={"face": face_id, "rejected": ids})
    return DecisionResult(decided=ids, faces={face_id})


@transaction.atomic
def assign(*, face: Face | int, person: Person, reviewer, access: Access | None = None) -> DecisionResult:
    """The face is ``person`` (whoever was proposed): assign it and resolve its proposals accordingly."""
    face_id = face if isinstance(face, int) else face.pk
    person = require_can_receive_faces(person.pk)
    proposals = _locked_face_proposals(face_id)
    now = timezone.now()
    chosen = [i for i in proposals if i.candidate_id == person.pk and i.status != Status.CONFIRMED]
    confirmed = _set(chosen, Status.CONFIRMED, reviewer=reviewer, now=now)
    rejected = _set([i for i in proposals if i.candidate_id != person.pk and i.status == Status.PENDING],
                    Status.REJECTED, reviewer=reviewer, now=now)
    previous = Face.objects.filter(pk=face_id).values_list("person_id", flat=True).first()
    updated = Face.objects.filter(pk=face_id).update(person=person)
    if not updated:
        raise ServiceError(f"There is no face {face_id}.")
    log_access(action="face.assign", actor=reviewer, access=access, object_type="face", object_id=face_id,
               person=person, purpose="review", detail={"face": face_id, "confirmed": confirmed,
                                                        "rejected": rejected, "person": person.pk,
                                                        "previous_person": previous})
    return DecisionResult(decided=confirmed + rejected, faces={face_id})


def decide(*, action: str, identification: Identification | int, reviewer, person: Person | None = None,
           access: Access | None = None) -> DecisionResult:
    """One decision on the face of ``identification``: confirm, reject, unknown, or assign to ``person``."""
    if action not in ACTIONS:
        raise ServiceError(f"Unknown decision {action!r}: use one of {', '.join(ACTIONS)}.")
    if action == CONFIRM:
        return confirm(identification=identification, reviewer=reviewer, access=access)
    if action == REJECT:
        return reject(identification=identification, reviewer=reviewer, access=access)
    ident_id = identification if isinstance(identification, int) else identification.pk
    face_id = Identification.objects.filter(pk=ident_id).values_list("face_id", flat=True).first()
    if face_id is None:
        raise ServiceError(f"There is no identification {ident_id}.")
    if action == UNKNOWN:
        return mark_unknown(face=face_id, reviewer=reviewer, access=access)
    if person is None:
        raise ServiceError("Choose the person to assign the face to.")
    return assign(face=face_id, person=person, reviewer=reviewer, access=access)


@transaction.atomic
def bulk_decide(*, action: str, identifications: Iterable[int], reviewer, person: Person | None = None,
                access: Access | None = None) -> DecisionResult:
    """The same decision on many proposals, all or nothing; proposals decided meanwhile are skipped."""
    ids = list(dict.fromkeys(int(i) for i in identifications))
    if not ids:
        raise ServiceError("Select at least one proposal.")
    if len(ids) > 500:
        raise ServiceError("At most 500 proposals at a time.")
    result = DecisionResult()
    rows = dict(Identification.objects.filter(pk__in=ids).values_list("pk", "face_id"))
    missing = [i for i in ids if i not in rows]
    if missing:
        raise ServiceError(f"There is no identification {missing[0]}.")
    seen_faces: set[int] = set()
    for ident_id in ids:
        face_id = rows[ident_id]
        # confirm/reject act on the proposal; unknown/assign on its face, once.
        if action in (UNKNOWN, ASSIGN) and face_id in seen_faces:
            continue
        seen_faces.add(face_id)
        try:
            result.merge(decide(action=action, identification=ident_id, reviewer=reviewer, person=person,
                                access=access))
        except Conflict:
            result.skipped.append(ident_id)
    return result


UNDO_WINDOW = timedelta(minutes=15)
_DECISION_ACTIONS = ("identification.confirm", "identification.reject", "face.mark_unknown", "face.assign")


@transaction.atomic
def undo_last_decision(*, face: Face | int, reviewer, access: Access | None = None) -> DecisionResult:
    """Take back ``reviewer``'s latest decision on a face: its proposals pending again, its person as before.

    Only the reviewer who made the face's latest decision may undo it, within
    :data:`UNDO_WINDOW`, and only while nobody has changed the face since (a later
    decision, a merge, an unassignment: 409). The undo is logged (``review.undo``).
    """
    face_id = face if isinstance(face, int) else face.pk
    proposals = _locked_face_proposals(face_id)
    locked = Face.objects.select_for_update().filter(pk=face_id).first()
    if locked is None:
        raise ServiceError(f"There is no face {face_id}.")
    decided = [i for i in proposals
               if i.decided_at is not None and i.status in (Status.CONFIRMED, Status.REJECTED)]
    if not decided:
        raise Conflict("There is no decision on this face to undo.")
    latest = max(i.decided_at for i in decided)
    last = [i for i in decided if i.decided_at == latest]
    if any(i.decided_by_id != reviewer.pk for i in last):
        raise NotAllowed("Only the reviewer who made the latest decision on this face can undo it.")
    if timezone.now() - latest > UNDO_WINDOW:
        raise Conflict(f"Decisions can be undone for {int(UNDO_WINDOW.total_seconds() // 60)} minutes only.")
    event = (AccessEvent.objects.filter(action__in=_DECISION_ACTIONS, actor_id=reviewer.pk,
                                        detail__face=face_id).order_by("-id").first())
    restored = locked.person_id
    if event is not None and event.action in ("identification.confirm", "face.assign"):
        if locked.person_id != event.detail.get("person"):
            raise Conflict("This face was changed after the decision; it cannot be undone.")
        restored = event.detail.get("previous_person")
    ids = [i.pk for i in last]
    Identification.objects.filter(pk__in=ids).update(status=Status.PENDING, decided_by=None, decided_at=None)
    if restored != locked.person_id:
        Face.objects.filter(pk=face_id).update(person_id=restored)
    log_access(action="review.undo", actor=reviewer, access=access, object_type="face", object_id=face_id,
               purpose="review", detail={"face": face_id, "undone": event.action if event else "",
                                         "pending_again": ids, "person": restored})
    return DecisionResult(decided=ids, faces={face_id})


@dataclass(frozen=True)
class MergeResult:
    person: Person
    faces: int
    photos: int
    consents: int
    identifications_moved: int
    identifications_superseded: int


@transaction.atomic
def merge_people(*, into: Person, other: Person, reviewer, access: Access | None = None) -> MergeResult:
    """Merge ``other`` into ``into`` (the same human recorded twice); ``other`` stays as an empty shell."""
    if into.pk == other.pk:
        raise ServiceError("Choose two different people to merge.")
    locked = {p.pk: p for p in Person.objects.select_for_update().filter(pk__in=[into.pk, other.pk])}
    if len(locked) != 2:
        raise ServiceError("One of the two people does not exist any more.")
    into, other = locked[into.pk], locked[other.pk]
    for p in (into, other):
        if p.erased_at:
            raise ServiceError(f"{p} was erased and cannot be merged.")
        if p.merged_into_id:
            raise ServiceError(f"{p} was already merged into someone else.")
    if into.user_id and other.user_id:
        raise ServiceError(f"{into} and {other} both have their own user account; "
                           "people with two accounts cannot be merged.")
    now = timezone.now()
    faces = Face.objects.filter(person=other).update(person=into)
    photos = Photo.objects.filter(person=other).update(person=into)
    consents = Consent.objects.filter(person=other).update(person=into)

    # Identifications: a face proposed as both keeps one verdict, on ``into``.
    superseded = 0
    theirs = list(Identification.objects.select_for_update().filter(candidate=other))
    ours = {i.face_id: i for i in Identification.objects.select_for_update().filter(
        candidate=into, face_id__in=[i.face_id for i in theirs])}
    movable = []
    for ident in theirs:
        mine = ours.get(ident.face_id)
        if mine is None:
            movable.append(ident.pk)
            continue
        if _VERDICT_STRENGTH[Status(ident.status)] > _VERDICT_STRENGTH[Status(mine.status)]:
            mine.status, mine.decided_by_id = ident.status, ident.decided_by_id
            mine.decided_at = ident.decided_at
        mine.distance = min(mine.distance, ident.distance)
        mine.rank = min(mine.rank, ident.rank)
        mine.save(update_fields=["status", "decided_by", "decided_at", "distance", "rank"])
        ident.status, ident.decided_by, ident.decided_at = Status.SUPERSEDED, reviewer, now
        ident.save(update_fields=["status", "decided_by", "decided_at"])
        superseded += 1
    moved = Identification.objects.filter(pk__in=movable).update(candidate=into)
    # A face now confirmed as ``into`` has no other candidate left to decide.
    confirmed_faces = Identification.objects.filter(candidate=into, status=Status.CONFIRMED).values("face_id")
    Identification.objects.filter(face_id__in=confirmed_faces, status=Status.PENDING).exclude(
        candidate=into).update(status=Status.REJECTED, decided_by=reviewer, decided_at=now)

    Person.objects.filter(merged_into=other).update(merged_into=into)
    if other.user_id and not into.user_id:
        into.user_id, other.user_id = other.user_id, None
        other.save(update_fields=["user"])
    into.last_interaction_at = max(into.last_interaction_at, other.last_interaction_at)
    into.save(update_fields=["user", "last_interaction_at"])
    other.merged_into = into
    other.save(update_fields=["merged_into"])
    log_access(action="person.merge", actor=reviewer, access=access, obj=other, person=into,
               purpose="review",
               detail={"merged": other.pseudonym, "into": into.pseudonym, "faces": faces, "photos": photos,
                       "consents": consents, "identifications_moved": moved,
                       "identifications_superseded": superseded})
    return MergeResult(into, faces, photos, consents, moved, superseded)


@transaction.atomic
def unassign_face(*, face: Face | int, reviewer, access: Access | None = None) -> Person:
    """Take a wrongly assigned face off its person; returns the person it was taken from."""
    face_id = face if isinstance(face, int) else face.pk
    face = Face.objects.select_for_update(of=("self",)).select_related("person").filter(pk=face_id).first()
    if face is None:
        raise ServiceError(f"There is no face {face_id}.")
    person = face.person
    if person is None:
        raise Conflict("This face is not assigned to anyone.")
    was_enrolled = face.enrolled
    face.person, face.enrolled = None, False
    face.save(update_fields=["person", "enrolled"])
    now = timezone.now()
    undone = _set(Identification.objects.filter(face=face, candidate=person, status=Status.CONFIRMED),
                  Status.REJECTED, reviewer=reviewer, now=now)
    log_access(action="face.unassign", actor=reviewer, access=access, obj=face, person=person,
               purpose="review", detail={"was_enrolled": was_enrolled, "confirmations_undone": undone})
    return person

