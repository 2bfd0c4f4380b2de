"""Compliance pages: the access log for auditors, erasure for operators, the public retention policy.

Auditors see log entries only: no face, no photo, no embedding is ever rendered here.
"""

from __future__ import annotations

import io
import json
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from recognition import auditkeys, checkpoints, roles, selectors
from recognition.access import Access
from recognition.audit import verify_chain
from recognition.exceptions import ServiceError
from recognition.forms import AuditVerifyForm, ErasureForm, ReceiptVerifyForm, RetentionPolicyForm
from recognition.models import ErasureReceipt, Person
from recognition.services import abuse, audit_export, erasure, retention
from recognition.views import review_charts as charts
from recognition.views.common import role_required

PAGE_SIZE = 100


@role_required(roles.CAN_AUDIT)
@require_GET
def audit_log(request):
    """Newest entries first, filtered, paged by id (fast at any depth of a large log)."""
    error, events, next_before = "", [], None
    try:
        f = audit_export.parse_filter(request.GET)
        before = request.GET.get("before", "")
        if before and not before.isdigit():
            raise ServiceError("before must be an entry id.")
        qs = audit_export.filtered_events(f).order_by("-id")
        if before:
            qs = qs.filter(id__lt=int(before))
        events = list(qs[: PAGE_SIZE + 1])
        if len(events) > PAGE_SIZE:
            events = events[:PAGE_SIZE]
            next_before = events[-1].id
    except ServiceError as exc:
        error, f = exc.message, audit_export.AuditFilter()
    for event in events:
        event.detail_json = (json.dumps(event.detail, sort_keys=True, ensure_ascii=False)
                             if event.detail else "")
    filters = {k: request.GET.get(k, "") for k in ("since", "until", "actor", "person", "action")}
    activity = audit_export.activity_per_hour(f)
    palette = charts.ACTIVITY_PALETTE
    colors = {k: palette[i % len(palette)] for i, k in enumerate(activity["kinds"])}
    colors[audit_export.FAILED_SIGN_IN] = charts.FAILED_SIGN_IN_COLOR
    context = {
        # The pickers show what was asked; a bare date (from a link) as its midnight.
        "picker": {k: (v if "T" in v or not v else f"{v}T00:00")[:16] for k, v in filters.items()
                   if k in ("since", "until")},
        "activity": activity,
        "activity_legend": [(k, colors[k], activity["totals"][k]) for k in activity["kinds"]],
        "activity_chart": charts.columns(
            activity["series"], activity["kinds"], colors=colors, every=max(1, len(activity["series"]) // 8),
            x_label=lambda d: d["hour"].strftime("%d %b %H:00"),
            label="Access-log entries per hour by kind of action"),
        "events": events, "error": error, "filters": filters,
        "next_before": next_before, "export_query": urlencode({k: v for k, v in filters.items() if v}),
        "page_size": PAGE_SIZE,
        "first_page": not request.GET.get("before"),
    }
    return render(request, "compliance/audit_log.html", context, status=400 if error else 200)


@role_required(roles.CAN_AUDIT)
@require_GET
def audit_export_view(request):
    """The filtered log as CSV or JSON Lines, streamed (constant memory); the export is logged."""
    fmt = request.GET.get("format", "csv")
    try:
        f = audit_export.parse_filter(request.GET)
        chunks = audit_export.start_export(f=f, fmt=fmt, actor=request.user, access=Access.of(request))
    except ServiceError as exc:
        return HttpResponse(exc.message + "\n", status=exc.status, content_type="text/plain; charset=utf-8")
    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = StreamingHttpResponse((c.encode("utf-8") for c in chunks),
                                     content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{audit_export.export_filename(fmt)}"'
    response["Cache-Control"] = "private, no-store"
    return response


@role_required(roles.CAN_AUDIT)
@require_http_methods(["GET", "POST"])
def audit_verify(request):
    """Check the whole chain, or an uploaded export (POST: it writes a log entry); the keys and
    the latest signed checkpoints an auditor verifies against are on the page."""
    report, file_report, status = None, None, 200
    form = AuditVerifyForm(request.POST, request.FILES) if request.method == "POST" else None
    upload = form.cleaned_data["export"] if form is not None and form.is_valid() else None
    if upload is not None:
        if upload.size > settings.AUDIT_UPLOAD_MAX_BYTES:
            file_report = audit_export.ExportCheck(False, 0, None, f"the file is larger than "
                                                   f"{settings.AUDIT_UPLOAD_MAX_BYTES:,} bytes")
            status = 413
        else:
            text = io.TextIOWrapper(upload.file, encoding="utf-8", errors="strict", newline="")
            try:
                first = text.readline()
                text.seek(0)
                fmt = audit_export.detect_format(upload.name or "", first)
                file_report = audit_export.check_export_file(text, fmt)
            except UnicodeDecodeError:
                file_report = audit_export.ExportCheck(False, 0, None, "the file is not UTF-8 text")
            audit_export.log_verification(report=file_report, actor=request.user, access=Access.of(request),
                                          via="upload")
            status = 200 if file_report.ok else 409
    elif form is not None:
        report = verify_chain()
        audit_export.log_verification(report=report, actor=request.user, access=Access.of(request))
        status = 200 if report.ok else 409
    key = auditkeys.signing_key()
    context = {"report": report, "file_report": file_report, "public_key": key.public_b64,
               "signing_key": key.fingerprint, "hmac_key": auditkeys.current_hmac()[0],
               "checkpoints": list(reversed(checkpoints.load_checkpoints()))[:10],
               "checkpoint_dir_set": bool(settings.AUDIT_CHECKPOINT_DIR)}
    return render(request, "compliance/audit_verify.html", context, status=status)


@role_required(roles.CAN_AUDIT)
@require_GET
def audit_public_key(request):
    """The public verification key (base64), to check exports offline: ``verify_audit --public-key``."""
    key = auditkeys.signing_key()
    response = HttpResponse(f"{key.public_b64}\n", content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="faceweb-audit-{key.fingerprint[8:]}.pub"'
    return response


@role_required(roles.CAN_AUDIT)
@require_GET
def abuse_signals(request):
    """Who identifies the most, and how many different people: accounts and counts, no faces."""
    order = request.GET.get("order", "requests")
    raw_days = request.GET.get("days", "")
    error, rows = "", []
    try:
        days = int(raw_days) if raw_days else settings.ABUSE_WINDOW_DAYS
        rows = abuse.identify_activity(days=days, order=order)
    except ValueError:
        error, days = "days must be a whole number.", settings.ABUSE_WINDOW_DAYS
    except ServiceError as exc:
        error = exc.message
    return render(request, "compliance/abuse.html", {
        "rows": rows, "days": days, "order": order, "error": error,
        "flag_requests": settings.ABUSE_FLAG_IDENTIFY_PER_DAY,
        "flag_people": settings.ABUSE_FLAG_PEOPLE_PER_DAY, "quota": settings.IDENTIFY_QUOTA_PER_DAY,
    }, status=400 if error else 200)


@role_required(roles.CAN_ERASE)
@require_http_methods(["GET", "POST"])
def erasure_page(request):
    """Choose a person, give the reason, erase; the latest receipts below."""
    q = request.GET.get("q", "").strip()[:100]
    status, form = 200, None
    if request.method == "POST":
        form = ErasureForm(request.POST)
        if not form.is_valid():
            messages.error(request, form.first_error())
            status = 400
        else:
            try:
                receipt = erasure.erase_person(person=form.cleaned_data["person_id"], actor=request.user,
                                               access=Access.of(request),
                                               reason=form.cleaned_data["reason"],
                                               vacuum=erasure.VACUUM_QUEUE)
            except ServiceError as exc:
                messages.error(request, exc.message)
                status = exc.status
            else:
                messages.success(request, f"Erased. Receipt {receipt.pk} is below; keep it with the request.")
                return redirect("erasure-receipt", receipt_id=receipt.pk)
    # Records merged into someone are empty shells: erasing the person they point to covers them.
    people = Person.objects.filter(erased_at__isnull=True, merged_into__isnull=True)
    if q:
        people = people.filter(Q(display_name__icontains=q) | Q(pseudonym=q) | Q(user__username=q)
                               | (Q(pk=int(q)) if q.isdigit() else Q()))
    people = (people.annotate(n_photos=Count("photos", distinct=True), n_faces=Count("faces", distinct=True),
                              face_id=Subquery(selectors.representative_face_ids(OuterRef("pk"))))
              .select_related("user").order_by("display_name", "pk")[:50])
    receipts = ErasureReceipt.objects.order_by("-erased_at")[:25]
    return render(request, "compliance/erasure.html",
                  {"people": people, "q": q, "receipts": receipts,
                   "selected": (form["person_id"].value() or "") if form is not None else ""}, status=status)


@role_required(roles.CAN_VIEW_RECEIPTS)
@require_GET
def erasure_receipt(request, receipt_id):
    receipt = get_object_or_404(ErasureReceipt, pk=receipt_id)
    document = erasure.receipt_document(receipt)
    if request.GET.get("format") == "json":
        response = HttpResponse(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                                content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="erasure-receipt-{receipt.pk}.json"'
        return response
    return render(request, "compliance/receipt.html", {
        "receipt": receipt, "check": erasure.verify_receipt(receipt),
        "document": json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False),
    })


@role_required(roles.CAN_VIEW_RECEIPTS)
@require_http_methods(["GET", "POST"])
def receipt_verify(request):
    """Check the signature of a downloaded receipt file (as ``manage.py verify_receipt`` does)."""
    check, status, name = None, 200, ""
    if request.method == "POST":
        form = ReceiptVerifyForm(request.POST, request.FILES)
        if form.is_valid():
            name = form.file_name
            check = erasure.verify_receipt(form.cleaned_data["receipt"])
            status = 200 if check.ok else 409
        else:
            name = form.file_name
            messages.error(request, form.first_error())
            status = 400
    return render(request, "compliance/receipt_verify.html", {"check": check, "name": name}, status=status)


@role_required(roles.CAN_MANAGE_RETENTION)
@require_POST
def retention_dry_run(request):
    """What the retention task would erase and delete now; nothing is changed."""
    report = retention.apply_retention(dry_run=True)
    context = {**retention.policy_in_force(), "max_inactive_days": retention.MAX_INACTIVE_PERSON_DAYS,
               "dry_run": report}
    return render(request, "compliance/retention.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def retention_policy(request):
    """The written retention policy in force (for everyone signed in); operators may change it."""
    can_manage = request.user.has_perm(roles.CAN_MANAGE_RETENTION)
    status = 200
    if request.method == "POST":
        if not can_manage:
            return HttpResponse("Only operators may change the retention policy.", status=403)
        form = RetentionPolicyForm(request.POST)
        if not form.is_valid():
            messages.error(request, RetentionPolicyForm.message)
            status = 400
        else:
            try:
                retention.set_policy(**form.cleaned_data, actor=request.user, access=Access.of(request))
            except ServiceError as exc:
                messages.error(request, exc.message)
                status = exc.status
            else:
                messages.success(request, "The retention policy is updated.")
                return redirect(reverse("retention-policy"))
    context = {**retention.policy_in_force(),
               "max_inactive_days": retention.MAX_INACTIVE_PERSON_DAYS}
    return render(request, "compliance/retention.html", context, status=status)
