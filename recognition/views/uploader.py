"""Pages for uploaders: consent, uploads with live status, a photo with its faces."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from recognition import roles, selectors
from recognition.access import Access
from recognition.exceptions import ServiceError
from recognition.forms import ConsentForm, PhotoUploadForm
from recognition.models import Consent, Photo
from recognition.services import consent as consent_service
from recognition.services import erasure, media
from recognition.services.photos import delete_photo, log_outcomes_read, upload_photo
from recognition.uploads import refused_upload
from recognition.views.common import role_required


@login_required
def home(request):
    user = request.user
    for perm, target in ((roles.CAN_REVIEW, "review-queue"), (roles.CAN_AUDIT, "audit-log"),
                         (roles.CAN_ERASE, "erasure"), (roles.CAN_UPLOAD, "photos")):
        if user.has_perm(perm):
            return redirect(target)
    return render(request, "home.html")


def _consent_page(request, notice, status: int = 200):
    history = list(selectors.consent_history_for(request.user))
    active = selectors.active_purposes_for(request.user)
    withdrawn = [c for c in history if c.withdrawn_at]
    receipts = list(selectors.erasure_receipts_for(request.user)) if withdrawn else []
    return render(request, "recognition/consent.html", {
        "notice": notice, "consents": history, "active_purposes": active,
        "purposes": [(value, label, value in active) for value, label in Photo.Purpose.choices],
        "receipts": receipts,
        # Withdrawn with nothing active and no receipt yet: the worker is erasing right now.
        "erasure_pending": bool(withdrawn) and not active and not receipts,
    }, status=status)


@role_required(roles.CAN_CONSENT)
@require_http_methods(["GET", "POST"])
def consent(request):
    notice = consent_service.current_notice()
    if request.method == "POST":
        form = ConsentForm(request.POST)
        form.is_valid()  # always valid: purposes and the notice's hash are the consent service's to check
        person = consent_service.person_for_user(request.user)
        try:
            consent_service.give_consent(
                person=person, purposes=set(form.cleaned_data["purposes"]), method=Consent.Method.WEB,
                given_by=request.user, notice=notice, notice_sha256=form.cleaned_data["notice_sha256"],
                user_agent=request.headers.get("User-Agent", ""), access=Access.of(request),
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
            return _consent_page(request, notice, status=exc.status)
        messages.success(request, "Thank you: your consent is recorded.")
        return redirect("consent")
    return _consent_page(request, notice)


@role_required(roles.CAN_CONSENT)
@require_POST
def consent_withdraw(request, consent_id: int):
    item = selectors.consent_for(request.user, consent_id)
    consent_service.withdraw_consent(consent=item, actor=request.user, access=Access.of(request))
    messages.success(request, "Consent withdrawn. With no consent left active, your biometric data is "
                              "erased within minutes and the erasure receipt appears below.")
    return redirect("consent")


@role_required(roles.CAN_CONSENT)
@require_GET
def consent_receipt(request, receipt_id):
    """The signed receipt of the erasure of the user's own data, as the JSON document."""
    receipt = selectors.erasure_receipts_for(request.user).filter(pk=receipt_id).first()
    if receipt is None:
        raise Http404("No such receipt.")
    document = erasure.receipt_document(receipt)
    response = HttpResponse(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="erasure-receipt-{receipt.pk}.json"'
    return response


@role_required(roles.CAN_UPLOAD)
@require_GET
def photo_list(request):
    return _photo_list(request)


PHOTOS_PER_PAGE = 60


def _photo_list(request, status: int = 200):
    photos = (selectors.photos_for(request.user).filter(uploader=request.user)
              .annotate(face_count=Count("faces")).order_by("-created_at", "-id"))
    paginator = Paginator(photos, PHOTOS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    shown = list(page.object_list)
    outcomes = selectors.face_outcomes(request.user, [p for p in shown if p.status == Photo.Status.DONE])
    for p in shown:
        p.outcomes = selectors.outcome_summary(outcomes.get(p.pk, []))
    active = selectors.active_purposes_for(request.user)
    # The purpose last used, if still consented to; otherwise the first consented purpose.
    chosen = request.session.get("upload_purpose")
    if chosen not in active:
        chosen = next((value for value, _ in Photo.Purpose.choices if value in active), "")
    return render(request, "recognition/photo_list.html", {
        "photos": shown, "page": page, "total": paginator.count,
        "purposes": [(value, label, value in active) for value, label in Photo.Purpose.choices],
        "chosen_purpose": chosen, "active_purposes": active,
        "max_mb": settings.UPLOAD_MAX_BYTES / 1e6, "max_files": settings.UPLOAD_MAX_FILES,
        "max_bytes": settings.UPLOAD_MAX_BYTES,
    }, status=status)


@role_required(roles.CAN_UPLOAD)
@require_POST
def photo_upload(request):
    form = PhotoUploadForm(request.POST, request.FILES)  # reading the files runs the size-limited handler
    valid = form.is_valid()
    purpose = form.cleaned_data["purpose"]
    if purpose in Photo.Purpose.values:
        request.session["upload_purpose"] = purpose  # the next upload starts from the same choice
    refused = refused_upload(request)
    if refused:  # a file over the limit: the rest of the upload was not read
        if _wants_json(request):
            return JsonResponse({"accepted": 0, "refused": 1, "errors": [refused]}, status=400)
        messages.error(request, refused)
        return _photo_list(request, status=400)
    if not valid:  # no photo, or too many at once
        messages.error(request, form.first_error())
        return redirect("photos")
    files = form.cleaned_data["photos"]
    accepted = refused = 0
    status = 200
    errors: list[str] = []
    for f in files:
        try:
            result = upload_photo(uploader=request.user, file=f, purpose=purpose, filename=f.name,
                                  access=Access.of(request))
        except ServiceError as exc:
            refused += 1
            status = exc.status
            errors.append(f"{f.name}: {exc.message}")
            continue
        accepted += 1
        if not result.created:
            messages.info(request, f"{f.name}: already uploaded (photo {result.photo.pk}).")
    if _wants_json(request):
        # One file per request from the page's uploader (per-file progress): answer in JSON.
        return JsonResponse({"accepted": accepted, "refused": refused, "errors": errors},
                            status=status if refused and not accepted else 200)
    for error in errors:
        messages.error(request, error)
    if accepted:
        messages.success(request, f"{accepted} photo(s) accepted and queued for processing.")
    if refused and not accepted:
        # Nothing accepted: say so with a 4xx, on the same page.
        return _photo_list(request, status=status)
    return redirect("photos")


@role_required(roles.CAN_UPLOAD)
@require_GET
def photo_status(request):
    """JSON status of the user's photos, polled by the list page for live updates."""
    try:
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i][:500]
    except ValueError:
        return JsonResponse({"error": "ids must be a comma-separated list of integers"}, status=400)
    photos = list(selectors.photos_for(request.user).filter(uploader=request.user, pk__in=ids)
                  .annotate(face_count=Count("faces")))
    outcomes = selectors.face_outcomes(request.user, [p for p in photos if p.status == Photo.Status.DONE])
    return JsonResponse({"photos": [
        {"id": p.pk, "status": p.status, "status_label": p.get_status_display(), "error": p.error,
         "faces": p.face_count if p.status == Photo.Status.DONE else None,
         "outcomes": selectors.outcome_summary(outcomes.get(p.pk, []))}
        for p in photos
    ]})


@login_required
@require_GET
def photo_detail(request, photo_id: int):
    photo = selectors.photo_for(request.user, photo_id)
    # Each face with its outcome for this viewer (docs/rules.md): the one disclosure rule.
    outcomes = selectors.face_outcomes(request.user, [photo])[photo.pk]
    log_outcomes_read(access=Access.of(request), photo=photo, outcomes=outcomes)
    faces = []
    for o in outcomes:
        o.face.result = o
        faces.append(o.face)
    highlight = request.GET.get("face", "")
    return render(request, "recognition/photo_detail.html", {
        "photo": photo, "faces": faces, "highlight": int(highlight) if highlight.isdigit() else None,
        "is_mine": photo.uploader_id == request.user.pk,
        "withdrawn": photo.status == Photo.Status.DONE and not faces and photo.consent_id is not None
        and photo.consent.withdrawn_at is not None,
    })


@role_required(roles.CAN_UPLOAD)
@require_POST
def photo_delete(request, photo_id: int):
    """Delete one of the user's own photos with its faces and file (others' photos: 404)."""
    photo = selectors.photos_for(request.user).filter(uploader=request.user, pk=photo_id).first()
    if photo is None:
        raise Http404("No such photo.")
    try:
        result = delete_photo(photo=photo, actor=request.user, access=Access.of(request))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("photo-detail", photo_id)
    faces = f" and its {result.faces} face{'s' if result.faces != 1 else ''}" if result.faces else ""
    messages.success(request, f"Photo {photo_id}{faces} deleted.")
    return redirect("photos")


@login_required
@require_GET
def photo_image(request, photo_id: int):
    photo = selectors.photo_for(request.user, photo_id)
    if request.GET.get("size") == "thumb":
        return _private_jpeg(media.photo_thumbnail_jpeg(photo=photo, access=Access.of(request)))
    return _private_jpeg(media.photo_jpeg(photo=photo, access=Access.of(request)))


@login_required
@require_GET
def face_crop(request, face_id: int):
    face = selectors.face_for(request.user, face_id)
    return _private_jpeg(media.face_crop_jpeg(face=face, access=Access.of(request)))


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _private_jpeg(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response
