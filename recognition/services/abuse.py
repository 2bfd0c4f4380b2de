"""Abuse signals: the identify quota of each uploader, and the auditors' view of who identifies whom.

Counted from the access log (append-only): withdrawing consent and erasing one's photos do
not reset the quota. See docs/rules.md, section 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from recognition.access import Access
from recognition.audit import log_access
from recognition.exceptions import ServiceError
from recognition.models import AccessEvent, Identification, Photo

IDENTIFY_REQUEST = "identify.request"
IDENTIFY_REFUSED = "identify.refused"
QUOTA_WINDOW = timedelta(hours=24)
_QUOTA_LOCK_NAMESPACE = 0x66616365  # "face": first key of pg_advisory_xact_lock(int, int), per uploader


class QuotaExceeded(ServiceError):
    status = 429
    code = "quota_exceeded"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def _wait_text(seconds: int) -> str:
    hours, minutes = divmod(max(60, seconds) // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def record_identify_request(*, uploader, access: Access | None = None, person=None, now=None) -> None:
    """Log one identify request of ``uploader``, or refuse it over ``IDENTIFY_QUOTA_PER_DAY``.

    Every request is logged (``identify.request``, or ``identify.refused`` over the quota)
    with the uploader as actor, whatever the interface. Two requests of one uploader count
    one after the other (an advisory lock per uploader), so the quota holds under bursts.
    """
    quota = int(settings.IDENTIFY_QUOTA_PER_DAY)
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_QUOTA_LOCK_NAMESPACE, int(uploader.pk)])
        recent = AccessEvent.objects.filter(action=IDENTIFY_REQUEST, actor_id=uploader.pk,
                                            at__gt=now - QUOTA_WINDOW)
        used = recent.count()
        refused = quota > 0 and used >= quota
        log_access(action=IDENTIFY_REFUSED if refused else IDENTIFY_REQUEST, actor=uploader, access=access,
                   person=person, purpose=Photo.Purpose.IDENTIFY,
                   detail={"used_24h": used + (0 if refused else 1), "quota": quota})
        oldest = recent.order_by("at").values_list("at", flat=True).first() if refused else None
    if refused:
        retry_after = int(((oldest + QUOTA_WINDOW) - now).total_seconds()) + 1 if oldest else 60
        raise QuotaExceeded(
            f"You have reached the limit of {quota} identify requests in 24 hours. "
            f"Try again in {_wait_text(retry_after)}; ask an administrator if you need more.",
            retry_after=retry_after)


@dataclass(frozen=True)
class UploaderActivity:
    """One uploader's identify activity over the window (accounts and counts, never faces or names)."""

    user_id: int
    username: str
    requests: int
    refused: int
    people_matched: int  # distinct people their identify photos were proposed as
    proposals: int
    requests_per_day: float
    people_per_day: float
    flagged: bool
    reasons: tuple[str, ...]


def identify_activity(*, days: int | None = None, order: str = "requests",
                      now=None) -> list[UploaderActivity]:
    """Uploaders ranked by identify requests (or by distinct people matched, ``order="people"``).

    Flagged when the daily rate of requests is over ``ABUSE_FLAG_IDENTIFY_PER_DAY`` or that
    of distinct people matched over ``ABUSE_FLAG_PEOPLE_PER_DAY``. Four grouped queries.
    """
    days = days or settings.ABUSE_WINDOW_DAYS
    if not 1 <= days <= 365:
        raise ServiceError("The window is 1 to 365 days.")
    if order not in ("requests", "people"):
        raise ServiceError("Order by 'requests' or 'people'.")
    now = now or timezone.now()
    since = now - timedelta(days=days)
    events = AccessEvent.objects.filter(at__gt=since, actor_id__isnull=False)

    def per_actor(action: str) -> dict[int, int]:
        return dict(events.filter(action=action).order_by().values_list("actor_id").annotate(n=Count("id")))

    requests, refused = per_actor(IDENTIFY_REQUEST), per_actor(IDENTIFY_REFUSED)
    matched = {row["face__photo__uploader_id"]: row for row in (
        Identification.objects.filter(created_at__gt=since, face__photo__purpose=Photo.Purpose.IDENTIFY,
                                      face__photo__uploader_id__isnull=False)
        .order_by().values("face__photo__uploader_id")
        .annotate(people=Count("candidate_id", distinct=True), proposals=Count("id")))}
    ids = set(requests) | set(refused) | set(matched)
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    flag_requests, flag_people = settings.ABUSE_FLAG_IDENTIFY_PER_DAY, settings.ABUSE_FLAG_PEOPLE_PER_DAY
    rows = []
    for uid in ids:
        n, people = requests.get(uid, 0), matched.get(uid, {}).get("people", 0)
        per_day, people_per_day = n / days, people / days
        reasons = tuple(r for r, over in (
            (f"over {flag_requests} identify requests a day", per_day > flag_requests),
            (f"over {flag_people} distinct people matched a day", people_per_day > flag_people)) if over)
        rows.append(UploaderActivity(
            user_id=uid, username=names.get(uid, f"(deleted account {uid})"), requests=n,
            refused=refused.get(uid, 0), people_matched=people,
            proposals=matched.get(uid, {}).get("proposals", 0),
            requests_per_day=round(per_day, 2), people_per_day=round(people_per_day, 2),
            flagged=bool(reasons), reasons=reasons))
    if order == "people":
        rows.sort(key=lambda r: (-r.people_matched, -r.requests, r.username))
    else:
        rows.sort(key=lambda r: (-r.requests, -r.people_matched, r.username))
    return rows
