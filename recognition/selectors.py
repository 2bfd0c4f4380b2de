"""Reads that apply visibility rules: who may see which photos, faces and consents."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db.models import Count, Exists, F, Min, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Floor, TruncHour
from django.utils import timezone

from recognition.exceptions import NotFound
from recognition.models import Consent, ErasureReceipt, Face, Identification, Person, Photo
from recognition.roles import CAN_ERASE, CAN_REVIEW


def sees_all_photos(user) -> bool:
    """Reviewers (to judge proposals) and operators (to erase) see every photo; others their own."""
    return user.has_perm(CAN_REVIEW) or user.has_perm(CAN_ERASE)


def photos_for(user):
    qs = Photo.objects.all()
    return qs if sees_all_photos(user) else qs.filter(uploader=user)


def photo_for(user, photo_id: int) -> Photo:
    """The photo if ``user`` may see it; NotFound otherwise (as for an id that does not exist)."""
    photo = photos_for(user).select_related("person").filter(pk=photo_id).first()
    if photo is None:
        raise NotFound("No such photo.")
    return photo


def face_for(user, face_id: int) -> Face:
    qs = Face.objects.select_related("photo", "person")
    if not sees_all_photos(user):
        qs = qs.filter(photo__uploader=user)
    face = qs.filter(pk=face_id).first()
    if face is None:
        raise NotFound("No such face.")
    return face


# --- Disclosure: what the viewer of a photo learns about each face (docs/rules.md, section 1) ---

AWAITING_REVIEW = "awaiting_review"
NOT_IDENTIFIED = "not_identified"
CONFIRMED = "confirmed"
ENROLLED = "enrolled"
NOT_ENROLLED = "not_enrolled"
OUTCOME_LABELS = {
    AWAITING_REVIEW: "awaiting review",
    NOT_IDENTIFIED: "not identified",
    CONFIRMED: "confirmed",
    ENROLLED: "enrolled",
    NOT_ENROLLED: "not enrolled",
}


def sees_candidates(user) -> bool:
    """Only reviewers see proposals (names, distances, ranks, rejected ones): they decide them."""
    return user.has_perm(CAN_REVIEW)


@dataclass(frozen=True)
class FaceOutcome:
    """What a viewer may know about one face. ``candidates`` is None unless the viewer reviews."""

    face: Face
    outcome: str
    person_id: int | None = None  # the confirmed (or enrolled) person, and only then
    person_name: str = ""
    candidates: list | None = None  # Identification objects, best first (reviewers only)

    @property
    def label(self) -> str:
        text = OUTCOME_LABELS[self.outcome]
        return f"{text} as {self.person_name}" if self.person_name else text


def _outcome(face: Face, purpose: str, candidates) -> FaceOutcome:
    if purpose == Photo.Purpose.ENROL:
        if face.enrolled and face.person_id:
            return FaceOutcome(face, ENROLLED, face.person_id, str(face.person), candidates)
        return FaceOutcome(face, NOT_ENROLLED, candidates=candidates)
    # Face.person is set on an identify photo's face only by a reviewer (confirm or assign).
    if face.person_id:
        return FaceOutcome(face, CONFIRMED, face.person_id, str(face.person), candidates)
    if face.has_pending:
        return FaceOutcome(face, AWAITING_REVIEW, candidates=candidates)
    return FaceOutcome(face, NOT_IDENTIFIED, candidates=candidates)


def face_outcomes(user, photos) -> dict[int, list[FaceOutcome]]:
    """The per-face outcome of each photo, for ``user``: ``{photo_id: [FaceOutcome, ...]}``.

    The one place that decides what an uploader learns: before a reviewer confirms a face,
    only that it is awaiting review or not identified; after, the confirmed person's name.
    Reviewers also get the face's proposals. The photos must already be visible to ``user``
    (``photos_for``). One query whatever the number of photos (two for a reviewer: the
    proposals); embeddings never read.
    """
    photos = list(photos)
    purposes = {p.pk: p.purpose for p in photos}
    pending_q = Identification.objects.filter(face_id=OuterRef("pk"), status=Identification.Status.PENDING)
    faces = (Face.objects.filter(photo_id__in=list(purposes)).select_related("person")
             .defer("embedding", "landmarks").annotate(has_pending=Exists(pending_q))
             .order_by("photo_id", "index"))
    reviewer = sees_candidates(user)
    if reviewer:
        idents = Identification.objects.select_related("candidate").order_by("rank", "id")
        faces = faces.prefetch_related(Prefetch("identifications", queryset=idents, to_attr="proposals"))
    out: dict[int, list[FaceOutcome]] = {pk: [] for pk in purposes}
    for face in faces:
        candidates = list(face.proposals) if reviewer else None
        out[face.photo_id].append(_outcome(face, purposes[face.photo_id], candidates))
    return out


def outcome_summary(outcomes: list[FaceOutcome]) -> list[str]:
    """One line per outcome for a photo list: "confirmed as Ann", "2 awaiting review"..."""
    named = [o.label for o in outcomes if o.person_name]
    counts = Counter(o.outcome for o in outcomes if not o.person_name)
    return [*dict.fromkeys(named), *(f"{n} {OUTCOME_LABELS[k]}" for k, n in counts.items())]


def consents_for(user):
    return Consent.objects.filter(person__user=user).select_related("notice")


def consent_for(user, consent_id: int) -> Consent:
    consent = consents_for(user).filter(pk=consent_id).first()
    if consent is None:
        raise NotFound("No such consent.")
    return consent



def consent_history_for(user):
    """Every consent the user gave, newest first, also those of a record since erased.

    Erasure on withdrawal detaches the person record from the account (the history is
    kept under a pseudonym); a consent given through the web or the API was given by the person
    themself, so ``given_by`` still shows them their own history.
    """
    mine = Q(person__user=user) | Q(given_by=user, method__in=[Consent.Method.WEB, Consent.Method.API])
    return Consent.objects.filter(mine).select_related("notice", "person").order_by("-given_at", "-id")


def active_purposes_for(user) -> set[str]:
    """The purposes the user's active consents cover (``enrol``, ``identify``)."""
    purposes: set[str] = set()
    for enrol, identify in (Consent.objects.filter(Consent.active_q(), person__user=user)
                            .values_list("purpose_enrol", "purpose_identify")):
        purposes |= {name for name, on in (("enrol", enrol), ("identify", identify)) if on}
    return purposes


def erasure_receipts_for(user):
    """Receipts of the erasures of the user's own person records (after a withdrawal), newest first."""
    refs = consent_history_for(user).values_list("person__pseudonym", flat=True)
    return ErasureReceipt.objects.filter(person_ref__in=refs).order_by("-erased_at")


# --- Review: the queue, people and statistics (reviewers see everything; views check the role) ---

REVIEW_PAGE_SIZE = 50


@dataclass(frozen=True)
class ReviewQueue:
    faces: list  # Face objects, each with ``.pending`` (its pending proposals, best first)
    pending: int  # pending identifications in all
    pending_faces: int  # faces waiting for a decision
    page: int
    pages: int


def review_queue(*, page: int = 1, per_page: int = REVIEW_PAGE_SIZE) -> ReviewQueue:
    """Faces with pending proposals, oldest proposal first, in three queries whatever the page size.

    Each face comes with its photo and current person (one join), and ``face.pending``:
    its pending proposals best first, each with its candidate and ``candidate_face_id``,
    the candidate's representative enrolled face (one prefetch with a subquery). The
    embedding column is never read.
    """
    pending_q = Identification.objects.filter(status=Identification.Status.PENDING)
    totals = pending_q.aggregate(n=Count("id"), faces=Count("face_id", distinct=True))
    pages = max(1, -(-totals["faces"] // per_page))
    page = min(max(1, page), pages)
    proposals = (pending_q.select_related("candidate")
                 .annotate(candidate_face_id=Subquery(representative_face_ids(OuterRef("candidate_id"))))
                 .order_by("rank", "distance", "id"))
    faces = list(
        Face.objects.filter(identifications__status=Identification.Status.PENDING)
        .annotate(waiting_since=Min("identifications__created_at"))
        .order_by("waiting_since", "id")
        .select_related("photo", "photo__uploader", "person")
        .defer("embedding", "landmarks", "photo__timings")
        .prefetch_related(Prefetch("identifications", queryset=proposals, to_attr="pending"))
        [(page - 1) * per_page: page * per_page]
    )
    return ReviewQueue(faces, totals["n"], totals["faces"], page, pages)


def representative_face_ids(person_ref):
    """The best enrolled face of a person (best quality first), else their best assigned face."""
    return (Face.objects.filter(person_id=person_ref)
            .order_by("-enrolled", "-is_good", "-quality", "id").values("id")[:1])


def people_overview(*, query: str = ""):
    """People who can hold faces (not erased, not merged away), with counts and a representative face."""
    qs = Person.objects.filter(erased_at__isnull=True, merged_into__isnull=True)
    if query:
        qs = qs.filter(display_name__icontains=query)
    pending = Identification.objects.filter(candidate=OuterRef("pk"), status=Identification.Status.PENDING)
    return qs.annotate(
        face_count=Count("faces", distinct=True),
        enrolled_count=Count("faces", filter=Q(faces__enrolled=True), distinct=True),
        pending_count=Subquery(pending.order_by().values("candidate").annotate(n=Count("id")).values("n")[:1]),
        face_id=Subquery(representative_face_ids(OuterRef("pk"))),
    # An uploader's account that only identifies has a person record but no face: not a card.
    ).exclude(face_count=0, user__isnull=False).order_by("display_name", "id")


def unassigned_faces():
    """Faces nobody holds and nothing is proposed for: marked unknown, every candidate rejected, or
    taken off a person. Newest first; a reviewer may still assign them (the retention policy
    deletes them after its delay)."""
    pending = Identification.objects.filter(face_id=OuterRef("pk"), status=Identification.Status.PENDING)
    return (Face.objects.filter(person__isnull=True, photo__status=Photo.Status.DONE)
            .exclude(Exists(pending)).select_related("photo").order_by("-id"))


def merge_candidates(person: Person):
    """People who can be merged into ``person``: not erased or merged away, one account at most."""
    qs = mergeable_people().exclude(pk=person.pk)
    if person.user_id:
        qs = qs.filter(user__isnull=True)
    return qs


def person_for_review(person_id: int) -> Person:
    person = Person.objects.filter(pk=person_id).select_related("merged_into", "user").first()
    if person is None:
        raise NotFound("No such person.")
    return person


def person_faces(person: Person):
    """All faces of a person, enrolled first, with their photo (no embeddings read)."""
    return (Face.objects.filter(person=person).select_related("photo").defer("embedding", "landmarks",
                                                                           "photo__timings")
            .order_by("-enrolled", "-photo__created_at", "index"))


def mergeable_people():
    """People who may be merged (two records of one human): not erased, not merged away."""
    return Person.objects.filter(erased_at__isnull=True, merged_into__isnull=True).only("id", "display_name")


def assignable_people():
    """People a face may be assigned to: not erased, not merged away, enrol consent active."""
    active = Consent.objects.filter(Consent.active_q(), person=OuterRef("pk"), purpose_enrol=True)
    return (Person.objects.filter(erased_at__isnull=True, merged_into__isnull=True).filter(Exists(active))
            .only("id", "display_name"))


def _percentiles(values: list[float], qs=(50, 90, 95, 99)) -> dict[int, float] | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    return {q: float(np.percentile(arr, q)) for q in qs}


def queue_counts() -> dict:
    """Pending proposals and the faces they are on (the review queue's counters)."""
    return Identification.objects.filter(status=Identification.Status.PENDING).aggregate(
        pending=Count("id"), faces=Count("face_id", distinct=True))


def recent_decisions(reviewer, *, since, limit: int = 5) -> list[dict]:
    """The faces ``reviewer`` decided on most recently (after ``since``), newest first, one entry per face."""
    rows = (Identification.objects.filter(decided_by=reviewer, decided_at__gte=since)
            .exclude(status=Identification.Status.PENDING).select_related("candidate")
            .order_by("-decided_at", "rank")[:100])
    faces: dict[int, dict] = {}
    for ident in rows:
        entry = faces.setdefault(ident.face_id, {"face_id": ident.face_id, "at": ident.decided_at,
                                                 "confirmed": None, "rejected": []})
        if ident.decided_at != entry["at"]:
            continue  # an older decision on the same face
        if ident.status == Identification.Status.CONFIRMED:
            entry["confirmed"] = ident.candidate
        else:
            entry["rejected"].append(ident.candidate)
        if len(faces) > limit:
            break
    return list(faces.values())[:limit]


def human_decisions():
    """Identifications confirmed or rejected by a reviewer's own verdict on them.

    Left out: the rejections made automatically, in the same decision, of a face's other
    candidates when it was confirmed as (or assigned to) someone (same face, same instant).
    """
    auto = Identification.objects.filter(face_id=OuterRef("face_id"), status=Identification.Status.CONFIRMED,
                                         decided_at=OuterRef("decided_at")).exclude(pk=OuterRef("pk"))
    return (Identification.objects.filter(status__in=[Identification.Status.CONFIRMED,
                                                      Identification.Status.REJECTED])
            .exclude(Q(status=Identification.Status.REJECTED) & Exists(auto)))


def review_statistics(*, now=None, hours: int = 48, sample: int = 5000, bin_width: float = 0.025) -> dict:
    """Figures for the statistics page. Bounded: about ten queries, none reading images or vectors."""
    now = now or timezone.now()
    since = now - timedelta(hours=hours)
    photos_by_status = dict(Photo.objects.order_by().values_list("status").annotate(n=Count("id")))
    faces = Face.objects.aggregate(
        total=Count("id"), good=Count("id", filter=Q(is_good=True)),
        enrolled=Count("id", filter=Q(enrolled=True)), assigned=Count("id", filter=Q(person__isnull=False)),
    )
    idents = dict(Identification.objects.order_by().values_list("status").annotate(n=Count("id")))
    # What reviewers decided themselves: not the rejections a confirm or an assign made of the
    # face's other candidates (they skew the confirm rate and the histogram).
    human = dict(human_decisions().order_by().values_list("status").annotate(n=Count("id")))
    queue = Identification.objects.filter(status=Identification.Status.PENDING).aggregate(
        faces=Count("face_id", distinct=True), oldest=Min("created_at"))

    # Processing time: the last ``sample`` photos done, total and per stage.
    done = Photo.objects.filter(status=Photo.Status.DONE, started_at__isnull=False, finished_at__isnull=False)
    rows = list(done.order_by("-finished_at").values_list("started_at", "finished_at", "queued_at", "timings")
                [:sample])
    total = [(f - s).total_seconds() for s, f, _, _ in rows]
    waited = [(s - q).total_seconds() for s, _, q, _ in rows if q and s >= q]
    stages: dict[str, list[float]] = {}
    for *_, timings in rows:
        for stage, seconds in (timings or {}).items():
            if isinstance(seconds, int | float):
                stages.setdefault(stage, []).append(float(seconds))
    processing = {"total": _percentiles(total), "queue_wait": _percentiles(waited),
                  "stages": {k: _percentiles(v) for k, v in stages.items()}, "sample": len(rows)}

    # Throughput per hour, and the queue's depth over the same hours (walked back from now).
    hour = TruncHour("finished_at")
    per_hour = {(h, s): n for h, s, n in Photo.objects.filter(finished_at__gte=since)
                .annotate(h=hour).order_by().values_list("h", "status").annotate(n=Count("id"))}
    arrivals = dict(Identification.objects.filter(created_at__gte=since).annotate(h=TruncHour("created_at"))
                    .order_by().values_list("h").annotate(n=Count("id")))
    decisions = dict(Identification.objects.filter(decided_at__gte=since).annotate(h=TruncHour("decided_at"))
                     .order_by().values_list("h").annotate(n=Count("id")))
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    hours_list = [start + timedelta(hours=i) for i in range(hours)]
    throughput = [{"hour": h, "done": per_hour.get((h, Photo.Status.DONE), 0),
                   "failed": per_hour.get((h, Photo.Status.FAILED), 0)} for h in hours_list]
    depth, depth_series = idents.get(Identification.Status.PENDING, 0), []
    for h in reversed(hours_list):  # depth at the end of hour h
        depth_series.append({"hour": h, "depth": max(0, depth)})
        depth -= arrivals.get(h, 0) - decisions.get(h, 0)
    depth_series.reverse()

    # Distances of the reviewers' own decisions, confirmed versus rejected.
    bucket = Floor(F("distance") / bin_width)
    hist = list(human_decisions().annotate(b=bucket).order_by().values_list("b", "status")
                .annotate(n=Count("id")))
    return {
        "photos_by_status": photos_by_status, "faces": faces, "identifications": idents, "human": human,
        "queue": {"pending": idents.get(Identification.Status.PENDING, 0), **queue},
        "processing": processing, "throughput": throughput, "queue_depth": depth_series,
        "distances": {"bin_width": bin_width, "bins": [(int(b), status, n) for b, status, n in hist]},
    }


# --- identifications, by id (added for the API) ---------------------------------------------------

def identifications_for(user):
    """Identifications that ``user`` may review (reviewers see all of them)."""
    if not user.has_perm(CAN_REVIEW):
        return Identification.objects.none()
    return Identification.objects.select_related("face", "candidate")


def identification_for(user, identification_id: int):
    ident = identifications_for(user).filter(pk=identification_id).first()
    if ident is None:
        raise NotFound("No such identification.")
    return ident


def pending_face_ids(face_ids) -> set[int]:
    """Those of ``face_ids`` that still have a pending proposal."""
    return set(Identification.objects.filter(face_id__in=list(face_ids), status=Identification.Status.PENDING)
               .values_list("face_id", flat=True).distinct())


def current_gallery_version() -> str | None:
    """The pipeline version of the newest enrolled face: the gallery that matching searches now."""
    return (Face.objects.filter(enrolled=True).order_by("-id")
            .values_list("pipeline_version", flat=True).first())
