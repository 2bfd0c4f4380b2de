"""Pages for uploaders: consent, uploads with live status, a photo with its faces."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from recognition import roles, selectors
from recognition.client import client_ip
from recognition.exceptions import ServiceError
from recognition.models import Consent, Photo
from recognition.services import consent as consent_service
from recognition.services import media
from recognition.services.photos import upload_photo
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


@role_required(roles.CAN_CONSENT)
@require_http_methods(["GET", "POST"])
def consent(request):
    notice = consent_service.current_notice()
    if request.method == "POST":
        person = consent_service.person_for_user(request.user)
        try:
            consent_service.give_consent(
                person=person, purposes=set(request.POST.getlist("purposes")), method=Consent.Method.WEB,
                given_by=request.user, notice=notice, notice_sha256=request.POST.get("notice_sha256"),
                ip=client_ip(request), user_agent=request.headers.get("User-Agent", ""), request=request,
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
            context = {"notice": notice, "consents": selectors.consents_for(request.user)}
            return render(request, "recognition/consent.html", context, status=exc.status)
        messages.success(request, "Thank you: your consent is recorded.")
        return redirect("consent")
    return render(request, "recognition/consent.html",
                  {"notice": notice, "consents": selectors.consents_for(request.user)})


@role_required(roles.CAN_CONSENT)
@require_POST
def consent_withdraw(request, consent_id: int):
    item = selectors.consent_for(request.user, consent_id)
    consent_service.withdraw_consent(consent=item, actor=request.user, request=request)
    messages.success(request, "Consent withdrawn. Your biometric data will be erased.")
    return redirect("consent")


@role_required(roles.CAN_UPLOAD)
@require_GET
def photo_list(request):
    return _photo_list(request)


def _photo_list(request, status: int = 200):
    photos = selectors.photos_for(request.user).filter(uploader=request.user).annotate(
        face_count=Count("faces"))[:200]
    return render(request, "recognition/photo_list.html", {
        "photos": photos, "purposes": Photo.Purpose.choices,
        "max_mb": settings.UPLOAD_MAX_BYTES / 1e6, "max_files": settings.UPLOAD_MAX_FILES,
    }, status=status)


@role_required(roles.CAN_UPLOAD)
@require_POST
def photo_upload(request):
    files = request.FILES.getlist("photos")
    purpose = request.POST.get("purpose", "")
    refused = refused_upload(request)
    if refused:  # a file over the limit: the rest of the upload was not read
        messages.error(request, refused)
        return _photo_list(request, status=400)
    if not files:
        messages.error(request, "Choose at least one photo to upload.")
        return redirect("photos")
    if len(files) > settings.UPLOAD_MAX_FILES:
        messages.error(request, f"At most {settings.UPLOAD_MAX_FILES} photos at a time.")
        return redirect("photos")
    accepted = refused = 0
    status = 200
    for f in files:
        try:
            result = upload_photo(uploader=request.user, file=f, purpose=purpose, filename=f.name,
                                  request=request)
        except ServiceError as exc:
            refused += 1
            status = exc.status
            messages.error(request, f"{f.name}: {exc.message}")
            continue
        accepted += 1
        if not result.created:
            messages.info(request, f"{f.name}: already uploaded (photo {result.photo.pk}).")
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
    photos = selectors.photos_for(request.user).filter(uploader=request.user, pk__in=ids)
    return JsonResponse({"photos": [
        {"id": p.pk, "status": p.status, "status_label": p.get_status_display(), "error": p.error,
         "faces": p.face_count if p.status == Photo.Status.DONE else None}
        for p in photos.annotate(face_count=Count("faces"))
    ]})


@login_required
@require_GET
def photo_detail(request, photo_id: int):
    photo = selectors.photo_for(request.user, photo_id)
    faces = list(photo.faces.all())
    return render(request, "recognition/photo_detail.html", {"photo": photo, "faces": faces})


@login_required
@require_GET
def photo_image(request, photo_id: int):
    photo = selectors.photo_for(request.user, photo_id)
    return _private_jpeg(media.photo_jpeg(photo=photo, request=request))


@login_required
@require_GET
def face_crop(request, face_id: int):
    face = selectors.face_for(request.user, face_id)
    return _private_jpeg(media.face_crop_jpeg(face=face, request=request))


def _private_jpeg(data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response
