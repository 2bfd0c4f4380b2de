"""Reading the access log for auditors: filters, streamed CSV / JSON Lines export, offline checks.

An export is streamed from a server-side cursor in chunks, so memory stays constant
whatever the size of the log. Every exported entry carries its ``prev_hash`` and ``hash``
and every field the hash covers, exactly as hashed: ``check_export`` (and the
``verify_audit --file`` command, or the short script in docs/compliance.md) recomputes
each hash offline and checks that consecutive entries chain.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from recognition.audit import GENESIS_HASH, HASHED_FIELDS, entry_hash, log_access
from recognition.exceptions import ServiceError
from recognition.models import AccessEvent, Person

# Columns of an export, in order: the hashed fields, then the chain.
EXPORT_FIELDS = (*HASHED_FIELDS, "prev_hash", "hash")
FORMATS = ("csv", "jsonl")
CHUNK_ROWS = 2000
# CSV cells that a spreadsheet would run as a formula are prefixed with a quote; so is a
# cell that already starts with one, which keeps the escaping reversible (see _unescape_cell).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    actor: str = ""  # username, exact
    person: str = ""  # pseudonym, or a person id
    action: str = ""  # exact, or a prefix ending with "." (e.g. "photo.")

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters / a log entry's detail (empty ones left out)."""
        values = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}
        return {k: v for k, v in values.items() if v}


def _parse_time(value: str, name: str, *, end: bool) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = parse_date(value) if len(value) == 10 else None
        if day is not None:
            # A bare date covers the whole day: "until" a date includes that date.
            parsed = datetime.combine(day, time.max if end else time.min)
        else:
            parsed = parse_datetime(value)
            if parsed is None:
                raise ValueError
    except ValueError:
        raise ServiceError(f"{name}: {value!r} is not a date or time (use YYYY-MM-DD or "
                           "YYYY-MM-DDTHH:MM[:SS][+00:00]).") from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def parse_filter(params: Mapping[str, str]) -> AuditFilter:
    """An AuditFilter from query parameters or command options; a clear ServiceError when bad."""
    def text(name: str, limit: int) -> str:
        value = (params.get(name) or "").strip()
        if len(value) > limit:
            raise ServiceError(f"{name} is longer than {limit} characters.")
        return value

    since = _parse_time(params.get("since", ""), "since", end=False)
    until = _parse_time(params.get("until", ""), "until", end=True)
    if since and until and since > until:
        raise ServiceError("since is after until: nothing can match.")
    return AuditFilter(since=since, until=until, actor=text("actor", 150), person=text("person", 40),
                       action=text("action", 60))


def filtered_events(f: AuditFilter) -> QuerySet[AccessEvent]:
    qs = AccessEvent.objects.all()
    if f.since:
        qs = qs.filter(at__gte=f.since)
    if f.until:
        qs = qs.filter(at__lte=f.until)
    if f.actor:
        qs = qs.filter(actor_name=f.actor)
    if f.person:
        ref = f.person
        if ref.isdigit():  # a person id: their pseudonym is what the log holds
            ref = Person.objects.filter(pk=int(ref)).values_list("pseudonym", flat=True).first() or ref
        qs = qs.filter(person_ref=ref)
    if f.action:
        qs = qs.filter(action__startswith=f.action) if f.action.endswith(".") else qs.filter(action=f.action)
    return qs


def _at(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _rows(qs: QuerySet[AccessEvent], up_to_id: int | None) -> Iterator[tuple]:
    if up_to_id is not None:
        qs = qs.filter(id__lte=up_to_id)
    return qs.order_by("id").values_list(*EXPORT_FIELDS).iterator(chunk_size=CHUNK_ROWS)


def record(row: tuple) -> dict:
    """One exported entry (a dict in EXPORT_FIELDS order) from a values_list row."""
    item = dict(zip(EXPORT_FIELDS, row, strict=True))
    item["at"] = _at(item["at"])
    return item


def _escape_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _unescape_cell(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def iter_jsonl(qs: QuerySet[AccessEvent], *, up_to_id: int | None = None) -> Iterator[str]:
    """The export as JSON Lines, in chunks of lines (each chunk a str)."""
    buf: list[str] = []
    for row in _rows(qs, up_to_id):
        buf.append(json.dumps(record(row), ensure_ascii=False, separators=(",", ":")))
        if len(buf) >= CHUNK_ROWS:
            yield "\n".join(buf) + "\n"
            buf.clear()
    if buf:
        yield "\n".join(buf) + "\n"


def iter_csv(qs: QuerySet[AccessEvent], *, up_to_id: int | None = None) -> Iterator[str]:
    """The export as CSV with a header row, in chunks; ``detail`` is compact JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_FIELDS)
    n = 0
    for row in _rows(qs, up_to_id):
        item = record(row)
        item["detail"] = json.dumps(item["detail"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        writer.writerow([_escape_cell(v) for v in item.values()])
        n += 1
        if n % CHUNK_ROWS == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def start_export(*, f: AuditFilter, fmt: str, actor=None, request=None, via: str = "web") -> Iterator[str]:
    """Log the export, then return its chunks (entries up to the last one before the export's own)."""
    if fmt not in FORMATS:
        raise ServiceError(f"Unknown format {fmt!r}: use csv or jsonl.")
    up_to_id = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    log_access(action="audit.export", actor=actor, request=request, object_type="accesslog",
               purpose="audit", detail={"format": fmt, "filters": f.as_params(), "up_to_id": up_to_id,
                                        "via": via})
    qs = filtered_events(f)
    return iter_csv(qs, up_to_id=up_to_id) if fmt == "csv" else iter_jsonl(qs, up_to_id=up_to_id)


def export_filename(fmt: str) -> str:
    return f"access-log-{timezone.now():%Y%m%dT%H%M%SZ}.{fmt}"


def log_verification(*, report, actor=None, request=None, via: str = "web") -> None:
    log_access(action="audit.verify", actor=actor, request=request, object_type="accesslog",
               purpose="audit", detail={"ok": report.ok, "checked": report.checked,
                                        "first_broken_id": report.first_broken_id, "via": via})


# ------------------------------------------------------------------- offline check of an export

@dataclass(frozen=True)
class ExportCheck:
    ok: bool
    checked: int
    segments: int  # runs of consecutive ids (a filtered export has gaps between runs)
    first_broken_id: int | None = None
    reason: str = ""


def _event_from_record(item: Mapping) -> AccessEvent:
    at = datetime.fromisoformat(item["at"])
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return AccessEvent(
        id=int(item["id"]), at=at,
        actor_id=int(item["actor_id"]) if item.get("actor_id") not in (None, "") else None,
        actor_name=item["actor_name"], role=item["role"], action=item["action"],
        object_type=item["object_type"], object_id=item["object_id"], person_ref=item["person_ref"],
        purpose=item["purpose"],
        ip=item["ip"] or None, request_id=item["request_id"], detail=item["detail"],
        prev_hash=item["prev_hash"], hash=item["hash"],
    )


def read_export(lines: Iterable[str], fmt: str) -> Iterator[dict]:
    """Entries of an exported file (CSV or JSON Lines), as the dicts ``record`` wrote."""
    if fmt == "jsonl":
        for line in lines:
            if line.strip():
                yield json.loads(line)
    elif fmt == "csv":
        for row in csv.DictReader(lines):
            item = {k: _unescape_cell(v) for k, v in row.items()}
            item["detail"] = json.loads(item["detail"]) if item["detail"] else {}
            yield item
    else:
        raise ServiceError(f"Unknown format {fmt!r}: use csv or jsonl.")


def check_export(entries: Iterable[Mapping]) -> ExportCheck:
    """Recompute every entry's hash; where ids are consecutive, check the previous-hash link."""
    prev_id, prev_hash, checked, segments = None, None, 0, 0
    for item in entries:
        try:
            event = _event_from_record(item)
        except (KeyError, ValueError, TypeError) as exc:
            return ExportCheck(False, checked, segments, None, f"entry {checked + 1} is malformed: {exc!r}")
        if entry_hash(event) != event.hash:
            return ExportCheck(False, checked, segments, event.id,
                               "its content does not match its hash (it was altered)")
        contiguous = prev_id is not None and event.id == prev_id + 1
        if contiguous and event.prev_hash != prev_hash:
            return ExportCheck(False, checked, segments, event.id,
                               "its previous-hash does not match the entry before it")
        if prev_id is None and event.id == 1 and event.prev_hash != GENESIS_HASH:
            return ExportCheck(False, checked, segments, event.id, "the first entry does not start the chain")
        if not contiguous:
            segments += 1
        prev_id, prev_hash = event.id, event.hash
        checked += 1
    return ExportCheck(True, checked, segments)
