"""Reading the access log for auditors: filters, streamed CSV / JSON Lines export, offline checks.

An export is streamed from a server-side cursor in chunks, so memory stays constant
whatever the size of the log. It opens with a header (format, filters, the last entry it
covers, the signing key) and closes with a trailer signed with the audit's Ed25519 key:
the number of entries, the first and last id, a digest over every exported (id, hash),
the head of the whole chain and what the server found walking it (every entry up to the
export, selected or not: hashes, links, HMACs, checkpoints), and the latest checkpoint.
So, offline and with the public key only (``check_export_file``, ``verify_audit --file``,
the upload form), a line deleted, duplicated or moved anywhere, a changed byte, or a
stream cut short is detected, for filtered exports too; an unfiltered export is also
walked link by link up to the checkpoint it carries.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet, Value
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from recognition import auditkeys, checkpoints
from recognition.access import Access
from recognition.audit import GENESIS_HASH, HASHED_FIELDS, ChainWalker, entry_hash, log_access
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


def filter_q(f: AuditFilter) -> Q:
    """The filter as one condition (the log page, the API and the export share it)."""
    q = Q()
    if f.since:
        q &= Q(at__gte=f.since)
    if f.until:
        q &= Q(at__lte=f.until)
    if f.actor:
        q &= Q(actor_name=f.actor)
    if f.person:
        ref = f.person
        if ref.isdigit():  # a person id: their pseudonym is what the log holds
            ref = Person.objects.filter(pk=int(ref)).values_list("pseudonym", flat=True).first() or ref
        q &= Q(person_ref=ref)
    if f.action:
        q &= Q(action__startswith=f.action) if f.action.endswith(".") else Q(action=f.action)
    return q


def filtered_events(f: AuditFilter) -> QuerySet[AccessEvent]:
    return AccessEvent.objects.filter(filter_q(f))


def _at(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def record(event) -> dict:
    """One exported entry (a dict in EXPORT_FIELDS order)."""
    item = {name: getattr(event, name) for name in EXPORT_FIELDS}
    item["at"] = _at(item["at"])
    return item


def _escape_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _unescape_cell(text: str) -> str:
    return text[1:] if text.startswith("'") else text


EXPORT_VERSION = 1
HEADER_PREFIX, TRAILER_PREFIX = "#faceweb-audit-header ", "#faceweb-audit-trailer "


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _meta_line(kind: str, fmt: str, value: dict) -> str:
    if fmt == "jsonl":
        return _json({kind: value}) + "\n"
    return (HEADER_PREFIX if kind == "header" else TRAILER_PREFIX) + _json(value) + "\n"


def _entry_line(item: dict, fmt: str, writer, out: io.StringIO) -> str:
    if fmt == "jsonl":
        return json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"
    item = {**item, "detail": json.dumps(item["detail"], sort_keys=True, ensure_ascii=False,
                                         separators=(",", ":"))}
    out.seek(0)
    out.truncate()
    writer.writerow([_escape_cell(v) for v in item.values()])
    return out.getvalue()


def line_digest_update(digest, event_id: int, event_hash: str) -> None:
    """What the trailer's ``entries_sha256`` covers: ``"<id>:<hash>\\n"`` per exported entry, in order."""
    digest.update(f"{event_id}:{event_hash}\n".encode("ascii"))


def iter_export(f: AuditFilter, fmt: str, up_to_id: int) -> Iterator[str]:
    """The export's text in chunks: header, entries, signed trailer.

    Walks every entry up to ``up_to_id`` (selected or not) through the chain check, so the
    trailer states whether the log the selection came from held; writes the selected ones.
    """
    key = auditkeys.signing_key()
    header = {"faceweb_audit_export": EXPORT_VERSION, "format": fmt, "filters": f.as_params(),
              "filtered": bool(f.as_params()), "up_to_id": up_to_id, "fields": list(EXPORT_FIELDS),
              "started_at": timezone.now().isoformat(timespec="microseconds"),
              "signing_key": key.fingerprint, "public_key": key.public_b64}
    covering = [c for c in checkpoints.load_checkpoints() if c.valid and c.payload["head_id"] <= up_to_id]
    latest = max(covering, key=lambda c: (c.payload["head_id"], c.payload["at"])) if covering else None
    header["checkpoint_head_id"] = latest.payload["head_id"] if latest else None
    walker = ChainWalker(covering)
    cond = filter_q(f)
    selected = ExpressionWrapper(cond, output_field=BooleanField()) if cond else Value(True)
    qs = (AccessEvent.objects.filter(id__lte=up_to_id).annotate(selected=selected).order_by("id")
          .iterator(chunk_size=CHUNK_ROWS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    buf = [_meta_line("header", fmt, header)]
    if fmt == "csv":
        buf.append(",".join(EXPORT_FIELDS) + "\n")
    digest, count, first_id, last_id = hashlib.sha256(), 0, None, None
    for event in qs:
        walker.feed(event)
        if not event.selected:
            continue
        buf.append(_entry_line(record(event), fmt, writer, out))
        line_digest_update(digest, event.id, event.hash)
        count += 1
        first_id = event.id if first_id is None else first_id
        last_id = event.id
        if len(buf) >= CHUNK_ROWS:
            yield "".join(buf)
            buf.clear()
    report = walker.report()
    trailer = {
        "count": count, "first_id": first_id, "last_id": last_id,
        "entries_sha256": digest.hexdigest(),
        "header_sha256": hashlib.sha256(auditkeys.canonical_json(header)).hexdigest(),
        "chain": {"ok": report.ok, "entries": report.checked, "first_broken_id": report.first_broken_id,
                  "reason": report.reason, "head_id": walker.head[0] if walker.head else None,
                  "head_hash": walker.head[1] if walker.head else None, "hmacs_checked": report.macs_checked,
                  "hmac_keys": list(report.hmac_keys), "checkpoints_matched": report.checkpoints_checked},
        "checkpoint": latest.document if latest else None,
        "finished_at": timezone.now().isoformat(timespec="microseconds"),
        "signing_key": key.fingerprint,
    }
    buf.append(_meta_line("trailer", fmt, {"payload": trailer, "signature": key.sign(trailer)}))
    yield "".join(buf)


def start_export(*, f: AuditFilter, fmt: str, actor=None,
                 access: Access | None = None, via: str = "web") -> Iterator[str]:
    """Log the export, then return its chunks (entries up to the last one before the export's own)."""
    if fmt not in FORMATS:
        raise ServiceError(f"Unknown format {fmt!r}: use csv or jsonl.")
    up_to_id = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    log_access(action="audit.export", actor=actor, access=access, object_type="accesslog",
               purpose="audit", detail={"format": fmt, "filters": f.as_params(), "up_to_id": up_to_id,
                                        "via": via})
    return iter_export(f, fmt, up_to_id)


def export_filename(fmt: str) -> str:
    return f"access-log-{timezone.now():%Y%m%dT%H%M%SZ}.{fmt}"


def log_verification(*, report, actor=None, access: Access | None = None, via: str = "web") -> None:
    log_access(action="audit.verify", actor=actor, access=access, object_type="accesslog",
               purpose="audit", detail={"ok": report.ok, "checked": report.checked,
                                        "first_broken_id": report.first_broken_id, "via": via})


# ------------------------------------------------------------------- offline check of an export

@dataclass(frozen=True)
class ExportCheck:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""
    filtered: bool = False
    filters: dict | None = None
    signing_key: str = ""
    trailer: dict | None = None
    checkpoint: dict | None = None  # the covering checkpoint's payload

    def summary(self) -> str:
        """What was checked, in one paragraph."""
        t = self.trailer or {}
        chain = t.get("chain", {})
        scope = (f"filtered export ({', '.join(f'{k}={v}' for k, v in (self.filters or {}).items())}): "
                 "complete for what the filter selected" if self.filtered
                 else "unfiltered export: every link from the first entry checked")
        parts = [f"{self.checked} entries, every hash recomputed, ids in strictly increasing order", scope,
                 f"trailer signed by {self.signing_key}: count, first/last id and digest of (id, hash) match",
                 f"the server walked {chain.get('entries')} entries up to {chain.get('head_id')} at export "
                 f"time ({chain.get('hmacs_checked')} HMACs with "
                 f"{', '.join(chain.get('hmac_keys') or []) or '-'}, {chain.get('checkpoints_matched')} "
                 "checkpoint(s) matched): the chain held"]
        if self.checkpoint:
            cp = self.checkpoint
            parts.append(f"covering checkpoint: entry {cp['head_id']} ({cp['count']} entries, {cp['at']}), "
                         "signature valid"
                         + ("" if self.filtered else ", and the exported chain reaches its head hash"))
        else:
            parts.append("no checkpoint covered this export")
        return "; ".join(parts)


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


class ExportFormatError(ValueError):
    pass


def read_export(lines: Iterable[str], fmt: str, meta: dict | None = None) -> Iterator[dict]:
    """Entries of an exported file (CSV or JSON Lines), as the dicts ``record`` wrote.

    The header and the trailer, when present, go into ``meta`` ("header", "trailer"); a
    line after the trailer is an error.
    """
    meta = {} if meta is None else meta
    if fmt not in FORMATS:
        raise ServiceError(f"Unknown format {fmt!r}: use csv or jsonl.")

    def body(stream: Iterable[str]) -> Iterator[str]:
        for n, line in enumerate(stream):
            if "trailer" in meta and line.strip():
                raise ExportFormatError("there are lines after the trailer")
            if fmt == "csv" and line.startswith(HEADER_PREFIX) and n == 0:
                meta["header"] = json.loads(line[len(HEADER_PREFIX):])
            elif fmt == "csv" and line.startswith(TRAILER_PREFIX):
                meta["trailer"] = json.loads(line[len(TRAILER_PREFIX):])
            else:
                yield line

    if fmt == "jsonl":
        for line in body(lines):
            if not line.strip():
                continue
            item = json.loads(line)
            if isinstance(item, dict) and set(item) == {"header"} and "header" not in meta:
                meta["header"] = item["header"]
            elif isinstance(item, dict) and set(item) == {"trailer"}:
                meta["trailer"] = item["trailer"]
            else:
                yield item
    else:
        for row in csv.DictReader(body(lines)):
            if None in row or None in row.values():
                raise ExportFormatError(f"a row has the wrong number of cells: {row!r:.80}")
            item = {k: _unescape_cell(v) for k, v in row.items()}
            item["detail"] = json.loads(item["detail"]) if item["detail"] else {}
            yield item


def check_export(entries: Iterable[Mapping], *, meta: dict | None = None,
                 public_keys: dict[str, bytes] | None = None) -> ExportCheck:
    """Check an export offline: every entry's hash, their order, and the signed trailer.

    ``entries`` may be a ``read_export`` generator that fills ``meta`` as it goes;
    ``public_keys`` (fingerprint to raw key) default to this server's verification keys.
    """
    meta = {} if meta is None else meta
    keys = auditkeys.verify_keys() if public_keys is None else public_keys
    checked, prev_id, prev_hash, digest = 0, None, None, hashlib.sha256()
    cp_payload, sealed_at = None, None

    def fail(event_id, reason, **extra) -> ExportCheck:
        return ExportCheck(False, checked, event_id, reason, **extra)

    iterator = iter(entries)
    try:
        first = next(iterator, None)
    except (ValueError, ExportFormatError) as exc:
        return fail(None, f"the file is malformed: {exc}")
    header = meta.get("header")
    if not isinstance(header, dict) or header.get("faceweb_audit_export") != EXPORT_VERSION:
        return fail(None, "the file has no export header: it is not a complete faceweb export (or it was cut "
                          "at the start)")
    filtered = bool(header.get("filtered"))
    # The header names the covering checkpoint's head: the walk notes where that entry is.
    pending = [first] if first is not None else []
    try:
        for item in _chain(pending, iterator):
            try:
                event = _event_from_record(item)
            except (KeyError, ValueError, TypeError) as exc:
                return fail(None, f"entry {checked + 1} is malformed: {exc!r}")
            if entry_hash(event) != event.hash:
                return fail(event.id, "its content does not match its hash (it was altered)")
            if prev_id is not None and event.id <= prev_id:
                return fail(event.id, f"it comes after entry {prev_id}: lines were reordered or duplicated")
            if not filtered:
                expected = prev_hash if prev_id is not None else GENESIS_HASH
                if event.prev_hash != expected:
                    return fail(event.id, "its previous-hash does not match the line before it: a line was "
                                          "removed, inserted or moved")
            line_digest_update(digest, event.id, event.hash)
            checked += 1
            prev_id, prev_hash = event.id, event.hash
            if event.id == header.get("checkpoint_head_id"):
                sealed_at = (event.hash, checked)
    except (ValueError, ExportFormatError) as exc:
        return fail(None, f"the file is malformed: {exc}")
    trailer_doc = meta.get("trailer")
    if not isinstance(trailer_doc, dict) or not isinstance(trailer_doc.get("payload"), dict):
        return fail(None, f"the file has no trailer: the export was cut short after {checked} entries (or "
                          "its end was removed)")
    trailer, signature = trailer_doc["payload"], str(trailer_doc.get("signature", ""))
    public = keys.get(trailer.get("signing_key", ""))
    extra = {"filtered": filtered, "filters": header.get("filters"),
             "signing_key": trailer.get("signing_key", ""), "trailer": trailer}
    if public is None:
        return fail(None, f"the trailer is signed by {trailer.get('signing_key')!r}, which is not a key you "
                          "trust (give the server's public key)", **extra)
    if not auditkeys.verify_signature(public, trailer, signature):
        return fail(None, "the trailer's signature does not match its content (the trailer was edited)",
                    **extra)
    if trailer.get("header_sha256") != hashlib.sha256(auditkeys.canonical_json(header)).hexdigest():
        return fail(None, "the header does not match the one the trailer signed (it was edited)", **extra)
    if trailer.get("count") != checked:
        return fail(None, f"the trailer signed {trailer.get('count')} entries and the file holds {checked}: "
                          "lines were removed or added", **extra)
    if trailer.get("entries_sha256") != digest.hexdigest() or trailer.get("last_id") != prev_id:
        return fail(None, "the exported entries are not the ones the trailer signed (lines were removed, "
                          "added or replaced)", **extra)
    chain = trailer.get("chain") or {}
    if not chain.get("ok"):
        return fail(chain.get("first_broken_id"), "the server found the log itself broken when it made this "
                    f"export: {chain.get('reason')}", **extra)
    cp_doc = trailer.get("checkpoint")
    if cp_doc is not None:
        cp = checkpoints.check_document(cp_doc, "covering checkpoint", keys)
        if not cp.valid:
            return fail(None, f"the covering checkpoint does not verify: {cp.problem}", **extra)
        cp_payload = cp.payload
        if cp_payload["head_id"] != header.get("checkpoint_head_id"):
            return fail(None, "the trailer's checkpoint is not the one the header announced", **extra)
        if not filtered and sealed_at != (cp_payload["head_hash"], cp_payload["count"]):
            return fail(cp_payload["head_id"], "the exported chain does not reach the checkpoint's head "
                                               "(hash or position differs): the log was rewritten", **extra)
        if not filtered and chain.get("head_id") != prev_id:
            return fail(None, "the unfiltered export does not end at the chain's head", **extra)
    return ExportCheck(True, checked, None, "", filtered, header.get("filters"),
                       trailer.get("signing_key", ""), trailer, cp_payload)


def _chain(first: list, rest: Iterator):
    yield from first
    yield from rest


def check_export_file(lines: Iterable[str], fmt: str, *,
                      public_keys: dict[str, bytes] | None = None) -> ExportCheck:
    """``check_export`` over a file's lines (an open text file, or an upload decoded line by line)."""
    meta: dict = {}
    try:
        return check_export(read_export(lines, fmt, meta), meta=meta, public_keys=public_keys)
    except (ValueError, ExportFormatError) as exc:
        return ExportCheck(False, 0, None, f"the file is malformed: {exc}")


def detect_format(name: str, first_line: str = "") -> str:
    return "csv" if name.lower().endswith(".csv") or first_line.startswith(HEADER_PREFIX) else "jsonl"


FAILED_SIGN_IN = "auth.login_failed"
ACTIVITY_MAX_HOURS = 24 * 7


def activity_per_hour(f: AuditFilter, *, now: datetime | None = None, hours: int = 48) -> dict:
    """Entries per hour by kind of action (the part before the dot), failed sign-ins apart.

    The window ends at the filter's ``until`` (or now) and starts at its ``since`` (or
    ``hours`` before), at most a week; one grouped query on the indexed ``at`` column.
    """
    end = min(f.until or now or timezone.now(), now or timezone.now())
    start = f.since or end - timedelta(hours=hours)
    start = max(start, end - timedelta(hours=ACTIVITY_MAX_HOURS))
    rows = (filtered_events(f).filter(at__gte=start, at__lte=end).annotate(h=TruncHour("at"))
            .order_by().values_list("h", "action").annotate(n=Count("id")))
    counts: dict[tuple[datetime, str], int] = {}
    totals: dict[str, int] = {}
    for hour, action, n in rows:
        kind = FAILED_SIGN_IN if action == FAILED_SIGN_IN else action.split(".", 1)[0]
        counts[(hour, kind)] = counts.get((hour, kind), 0) + n
        totals[kind] = totals.get(kind, 0) + n
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    n_hours = int((end - first).total_seconds() // 3600) + 1
    hours_list = [first + timedelta(hours=i) for i in range(n_hours)]
    kinds = sorted((k for k in totals if k != FAILED_SIGN_IN), key=lambda k: -totals[k])
    if FAILED_SIGN_IN in totals:
        kinds.append(FAILED_SIGN_IN)  # drawn last, on top, in red
    series = [{"hour": h, **{k: counts.get((h, k), 0) for k in kinds}} for h in hours_list]
    return {"series": series, "kinds": kinds, "totals": totals, "start": first, "end": end,
            "failed_sign_ins": totals.get(FAILED_SIGN_IN, 0)}
