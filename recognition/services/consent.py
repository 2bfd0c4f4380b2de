"""Giving and withdrawing consent."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recognition.access import Access
from recognition.audit import log_access
from recognition.background import after_commit
from recognition.exceptions import ConsentRequired, ServiceError
from recognition.models import Consent, ConsentNotice, Person, Photo


def current_notice() -> ConsentNotice:
    notice = ConsentNotice.objects.order_by("-published_at", "-id").first()
    if notice is None:
        raise ServiceError("No consent notice is published (run the migrations).")
    return notice


def person_for_user(user, *, create: bool = True) -> Person | None:
    """The data subject that a signed-in user is (created at their first consent)."""
    person = Person.objects.filter(user=user).first()
    if person is None and create:
        person = Person.objects.create(user=user, display_name=user.get_full_name() or user.get_username())
    return person


@transaction.atomic
def give_consent(
    *,
    person: Person,
    purposes: set[str],
    method: str,
    given_by=None,
    notice: ConsentNotice | None = None,
    notice_sha256: str | None = None,
    user_agent: str = "",
    evidence: str = "",
    access: Access | None = None,
    validity_days: int | None = None,
) -> Consent:
    """Record a consent to ``notice`` (the current one by default) for the given purposes.

    ``notice_sha256``, when given, must be the hash of the notice text the person saw: a
    consent to a text that has since changed is refused.
    """
    purposes = {p.strip().lower() for p in purposes if p}
    unknown = purposes - {Photo.Purpose.ENROL, Photo.Purpose.IDENTIFY}
    if unknown:
        raise ServiceError(f"Unknown purpose(s): {', '.join(sorted(unknown))}. Use enrol and/or identify.")
    if not purposes:
        raise ServiceError("Choose at least one purpose: enrol and/or identify.")
    if method not in Consent.Method.values:
        raise ServiceError(f"Unknown consent method {method!r}.")
    if method == Consent.Method.COMMAND and not evidence.strip():
        raise ServiceError("Consent recorded by an operator needs a reference to the written consent.")
    notice = notice or current_notice()
    if notice_sha256 and notice_sha256 != notice.sha256:
        raise ServiceError("The consent notice has changed since it was shown. "
                           "Read the new version and agree again.")
    if person.erased_at:
        raise ServiceError("This person's data was erased; create a new person to enrol again.")
    now = timezone.now()
    days = validity_days if validity_days is not None else settings.CONSENT_VALIDITY_DAYS
    consent = Consent.objects.create(
        person=person, notice=notice, notice_version=notice.version, notice_sha256=notice.sha256,
        purpose_enrol=Photo.Purpose.ENROL in purposes, purpose_identify=Photo.Purpose.IDENTIFY in purposes,
        method=method, given_by=given_by, evidence=evidence,
        ip=access.ip if access is not None else None, user_agent=user_agent[:400],
        given_at=now, expires_at=now + timedelta(days=days),
    )
    Person.objects.filter(pk=person.pk).update(last_interaction_at=now)
    log_access(action="consent.give", actor=given_by, access=access, obj=consent, person=person,
               detail={"purposes": sorted(purposes), "notice": notice.version, "method": method})
    return consent


def active_consent(person: Person | None, purpose: str) -> Consent | None:
    """The newest active consent of ``person`` that covers ``purpose``."""
    if person is None or person.erased_at:
        return None
    field = "purpose_enrol" if purpose == Photo.Purpose.ENROL else "purpose_identify"
    return (Consent.objects.filter(Consent.active_q(), person=person, **{field: True})
            .order_by("-given_at").first())


_LOCK_EXCLUSIVE = "SELECT id FROM recognition_person WHERE id = ANY(%s) ORDER BY id FOR UPDATE"
_LOCK_SHARED = "SELECT id FROM recognition_person WHERE id = ANY(%s) ORDER BY id FOR SHARE"


def lock_people(person_ids, *, exclusive: bool = False) -> None:
    """Lock person rows until the end of the transaction, in id order.

    Withdrawal and erasure lock the person exclusively; processing locks the people it
    stores data for or about (shared, so that photos of one person are processed in
    parallel), then re-reads their consent: no data is stored under a consent withdrawn
    meanwhile (docs/rules.md, section 3).
    """
    ids = sorted({int(i) for i in person_ids if i is not None})
    if not ids:
        return
    sql = _LOCK_EXCLUSIVE if exclusive else _LOCK_SHARED
    with connection.cursor() as cur:
        cur.execute(sql, [ids])


def require_consent(person: Person | None, purpose: str) -> Consent:
    consent = active_consent(person, purpose)
    if consent is None:
        verb = "enrol a face" if purpose == Photo.Purpose.ENROL else "identify faces"
        raise ConsentRequired(
            f"There is no active consent to {verb}. Give consent for '{purpose}' on the consent page first."
        )
    return consent


@transaction.atomic
def withdraw_consent(*, consent: Consent, actor=None, access: Access | None = None) -> Consent:
    """Withdraw a consent; what was kept for a purpose no active consent covers is then erased.

    The person's row is locked first: processing that is storing their data finishes
    before, or sees the withdrawal after (``lock_people``).
    """
    lock_people([consent.person_id], exclusive=True)
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.withdrawn_at is None:
        consent.withdrawn_at = timezone.now()
        consent.save(update_fields=["withdrawn_at"])
        log_access(action="consent.withdraw", actor=actor, access=access, obj=consent,
                   person=consent.person)
        if not Consent.objects.filter(Consent.active_q(), person=consent.person).exists():
            # No consent left: the worker erases their biometric data promptly (matching
            # already ignores them). If the broker is down, the retention run erases them.
            after_commit("recognition.tasks.erase_person_on_withdrawal", consent.person.pk,
                         getattr(actor, "pk", None))
        else:
            # A purpose no active consent covers any more: the worker erases what was kept
            # for it (docs/rules.md); the retention run catches up if the broker is down.
            for purpose, given in ((Photo.Purpose.ENROL, consent.purpose_enrol),
                                   (Photo.Purpose.IDENTIFY, consent.purpose_identify)):
                if given and active_consent(consent.person, purpose) is None:
                    after_commit("recognition.tasks.erase_purpose_on_withdrawal", consent.person.pk, purpose,
                                 getattr(actor, "pk", None))
    return consent
