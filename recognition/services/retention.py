"""Retention on a schedule: what is past its date is purged, with receipts and log entries.

The policy in force is the single ``RetentionPolicy`` row (operators change it on the
retention page). Each run (Celery beat, ``manage.py purge``):

- unknown faces (assigned to nobody, not enrolled) older than ``unknown_face_days`` are
  deleted with their embeddings and proposals, and so are identification photos older than
  that which no longer hold a face of a known person (with their files);
- people whose consent expired or was withdrawn (no active consent left), or whose last
  interaction is older than ``inactive_person_days`` (three years by default, the BIPA
  limit), are erased exactly as an operator would (``services.erasure.erase_person``);
- the data of a purpose that no active consent covers any more (one purpose withdrawn or
  expired, another still active) is erased (``services.erasure.erase_purpose``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from recognition.access import Access
from recognition.audit import log_access
from recognition.exceptions import ServiceError
from recognition.models import (
    AccessEvent,
    Consent,
    ErasureReceipt,
    Face,
    Identification,
    Person,
    Photo,
    RetentionPolicy,
    private_storage,
)
from recognition.services import erasure, media

logger = logging.getLogger(__name__)

# The most that inactive_person_days may be: BIPA's three years after the last interaction.
MAX_INACTIVE_PERSON_DAYS = 3 * 365
# A person record with no consent at all is left alone this long (it is being created).
NEW_PERSON_GRACE = timedelta(days=1)
UNKNOWN_FACES_REF = "retention:unknown-faces"


@dataclass
class RetentionReport:
    dry_run: bool
    at: str
    unknown_face_days: int
    inactive_person_days: int
    unknown_faces: int = 0
    identify_photos: int = 0
    orphan_identifications: int = 0
    people_consent_ended: list[int] = field(default_factory=list)
    people_inactive: list[int] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def policy_in_force() -> dict:
    """The policy as published on the retention page."""
    policy = RetentionPolicy.current()
    beat = settings.CELERY_BEAT_SCHEDULE.get("apply-retention", {})
    interval = beat.get("schedule")
    return {
        "policy": policy,
        "unknown_face_days": policy.unknown_face_days,
        "inactive_person_days": policy.inactive_person_days,
        "inactive_person_years": round(policy.inactive_person_days / 365, 1),
        "consent_validity_days": settings.CONSENT_VALIDITY_DAYS,
        "schedule_hours": round(float(interval) / 3600, 1) if isinstance(interval, int | float) else None,
        "last_run": _last_run(),
    }


def _last_run():
    return (AccessEvent.objects.filter(action="retention.run").order_by("-id")
            .values_list("at", flat=True).first())


def _erased_since(when) -> bool:
    """Whether anyone was erased since ``when`` (None: ever)."""
    receipts = ErasureReceipt.objects.all()
    if when is not None:
        receipts = receipts.filter(erased_at__gt=when)
    return receipts.exists()


@transaction.atomic
def set_policy(*, unknown_face_days: int, inactive_person_days: int, actor,
               access: Access | None = None) -> RetentionPolicy:
    """Change the retention policy (logged)."""
    if not 1 <= unknown_face_days <= 3650:
        raise ServiceError("Unknown faces must be kept between 1 and 3650 days.")
    if not 1 <= inactive_person_days <= MAX_INACTIVE_PERSON_DAYS:
        raise ServiceError(f"People must be erased after at most {MAX_INACTIVE_PERSON_DAYS} days without "
                           "interaction (BIPA: three years), and at least 1 day.")
    policy = RetentionPolicy.current()
    before = {"unknown_face_days": policy.unknown_face_days,
              "inactive_person_days": policy.inactive_person_days}
    policy.unknown_face_days = unknown_face_days
    policy.inactive_person_days = inactive_person_days
    policy.updated_by = actor.get_username() if actor is not None else "system"
    policy.save()
    log_access(action="retention.policy", actor=actor, access=access, obj=policy,
               object_type="retentionpolicy", purpose="retention",
               detail={"before": before, "after": {"unknown_face_days": unknown_face_days,
                                                   "inactive_person_days": inactive_person_days}})
    return policy


def _stale_unknown_faces(cutoff: datetime):
    return Face.objects.filter(person__isnull=True, enrolled=False, created_at__lt=cutoff)


def _stale_identify_photos(cutoff: datetime):
    """Identification photos past the cutoff with no face of a known person left in them."""
    known = Face.objects.filter(photo_id=OuterRef("pk")).filter(Q(person__isnull=False) | Q(enrolled=True))
    return Photo.objects.filter(purpose=Photo.Purpose.IDENTIFY, created_at__lt=cutoff,
                                status__in=[Photo.Status.DONE, Photo.Status.FAILED]).filter(~Exists(known))


def people_past_their_date(*, now: datetime, inactive_person_days: int) -> tuple[list[int], list[int]]:
    """(ids whose consent ended, ids inactive too long): people not yet erased."""
    active = Consent.objects.filter(Consent.active_q(at=now), person=OuterRef("pk"))
    any_consent = Consent.objects.filter(person=OuterRef("pk"))
    living = Person.objects.filter(erased_at__isnull=True, merged_into__isnull=True)  # merged: with theirs
    ended = list(living.filter(~Exists(active))
                 .filter(Q(Exists(any_consent)) | Q(created_at__lt=now - NEW_PERSON_GRACE))
                 .order_by("pk").values_list("pk", flat=True))
    inactive = list(living.filter(last_interaction_at__lt=now - timedelta(days=inactive_person_days))
                    .exclude(pk__in=ended).order_by("pk").values_list("pk", flat=True))
    return ended, inactive


def purposes_ended(*, now: datetime) -> list[tuple[Person, str]]:
    """People with another consent still active who hold data of a purpose no consent covers:
    catches up on a withdrawal whose erasure could not be queued, and on a purpose that expired."""
    out = []
    living = Person.objects.filter(erased_at__isnull=True, merged_into__isnull=True)
    flags = ((Photo.Purpose.ENROL, "purpose_enrol"), (Photo.Purpose.IDENTIFY, "purpose_identify"))
    for purpose, flag in flags:
        covered = Consent.objects.filter(Consent.active_q(at=now), person=OuterRef("pk"), **{flag: True})
        holds = Exists(Photo.objects.filter(person=OuterRef("pk"), purpose=purpose))
        if purpose == Photo.Purpose.ENROL:
            holds |= Exists(Face.objects.filter(person=OuterRef("pk"), enrolled=True))
        out += [(p, purpose) for p in living.filter(~Exists(covered)).filter(holds).order_by("pk")]
    return out


def _purge_unknown(*, cutoff: datetime, days: int, now: datetime) -> tuple[int, int, ErasureReceipt | None]:
    storage = private_storage()
    with transaction.atomic():
        photos = list(_stale_identify_photos(cutoff).select_for_update(of=("self",))
                      .order_by("pk").values_list("pk", "file"))
        photo_ids = [pk for pk, _ in photos]
        face_ids = list(Face.objects.filter(Q(pk__in=_stale_unknown_faces(cutoff).values("pk"))
                                            | Q(photo_id__in=photo_ids))
                        .order_by("pk").values_list("pk", flat=True))
        if not face_ids and not photo_ids:
            return 0, 0, None
        idents = Identification.objects.filter(face_id__in=face_ids).count()
        file_hashes = [erasure.file_record(pk, name) for pk, name in photos]
        counts = {"faces": len(face_ids), "embeddings": len(face_ids), "identifications": idents,
                  "photos": len(photo_ids), "files": sum(1 for f in file_hashes if not f.get("missing"))}
        reason = f"retention: unknown faces older than {days} days"
        Face.objects.filter(pk__in=face_ids).delete()  # cascades to their identifications
        Photo.objects.filter(pk__in=photo_ids).delete()
        receipt = erasure.issue_receipt(person_ref=UNKNOWN_FACES_REF, actor=None, reason=reason, at=now,
                                        counts=counts, file_hashes=file_hashes, also_pseudonymised=[],
                                        kept="nothing of these faces; the access log")
        log_access(action="retention.purge_unknown", obj=receipt, object_type="erasurereceipt",
                   purpose="retention", detail={"reason": reason, "counts": counts})
        for _, name in photos:
            if name:
                storage.delete(name)
        media.delete_crops(face_ids)
        media.delete_thumbnails(photo_ids)
    return len(face_ids), len(photo_ids), receipt


def apply_retention(*, now: datetime | None = None, dry_run: bool = False,
                    vacuum: bool = True) -> RetentionReport:
    """Run the retention policy once. ``dry_run`` reports what would go and changes nothing."""
    now = now or timezone.now()
    previous_run = _last_run()
    policy = RetentionPolicy.current()
    report = RetentionReport(dry_run=dry_run, at=now.isoformat(), unknown_face_days=policy.unknown_face_days,
                             inactive_person_days=policy.inactive_person_days)
    cutoff = now - timedelta(days=policy.unknown_face_days)
    ended, inactive = people_past_their_date(now=now, inactive_person_days=policy.inactive_person_days)
    report.people_consent_ended, report.people_inactive = ended, inactive
    orphans = Identification.objects.filter(candidate__erased_at__isnull=False)
    if dry_run:
        report.unknown_faces = _stale_unknown_faces(cutoff).count()
        report.identify_photos = _stale_identify_photos(cutoff).count()
        report.orphan_identifications = orphans.count()
        return report

    for person_ids, why in ((ended, "retention: consent expired or withdrawn"),
                            (inactive, f"retention: no interaction for {policy.inactive_person_days} days")):
        for person in Person.objects.filter(pk__in=person_ids, erased_at__isnull=True).order_by("pk"):
            receipt = erasure.erase_person(person=person, actor=None, reason=why, vacuum=erasure.VACUUM_SKIP)
            report.receipts.append(str(receipt.pk))
    for person, purpose in purposes_ended(now=now):
        receipt = erasure.erase_purpose(person=person, purpose=purpose, reason=f"retention: consent to "
                                        f"{purpose} expired or withdrawn", vacuum=erasure.VACUUM_SKIP)
        if receipt is not None:
            report.receipts.append(str(receipt.pk))
    faces, photos, receipt = _purge_unknown(cutoff=cutoff, days=policy.unknown_face_days, now=now)
    report.unknown_faces, report.identify_photos = faces, photos
    if receipt is not None:
        report.receipts.append(str(receipt.pk))
    # A proposal written by a worker while its candidate was being erased (a narrow race).
    with transaction.atomic():
        report.orphan_identifications = orphans.count()
        if report.orphan_identifications:
            orphans.delete()
        log_access(action="retention.run", purpose="retention", object_type="retentionpolicy",
                   object_id=policy.pk, detail={k: v for k, v in report.as_dict().items()
                                                if k not in ("dry_run", "at")})
    # Crops whose face is gone but whose file stayed (a crash between the commit and the delete).
    orphans_deleted = media.delete_crops_by_name(media.orphan_crops())
    if orphans_deleted:
        logger.warning("retention: deleted %d cached face crops left without their face", orphans_deleted)
    # Also sweeps up the rewrite of an erasure whose queued vacuum never reached a worker
    # (broker down): any erasure since the previous run.
    if vacuum and (report.receipts or _erased_since(previous_run)):
        transaction.on_commit(erasure.vacuum_after_commit)  # at once, outside any transaction
    logger.info("retention: %s", report.as_dict())
    return report
