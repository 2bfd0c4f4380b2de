"""The reviewer's dashboard: the identification queue, people, statistics.

Every page needs the reviewer role (403 otherwise). Images on these pages are <img>
tags pointing at the role-checked, logged crop and photo views; nothing here decodes an
image or reads an embedding.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_POST

from recognition import roles, selectors
from recognition.access import Access
from recognition.audit import log_access
from recognition.exceptions import ServiceError
from recognition.forms import AssignFaceForm, DecisionForm, MergeForm, UndoForm
from recognition.models import Person, Photo
from recognition.services import decision
from recognition.services import review as review_service
from recognition.views import review_charts as charts
from recognition.views.common import role_required


def _int(value, default: int = 1) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


class _UrlPattern:
    """A URL with one integer argument, reversed once and filled in by string formatting (fast in loops)."""

    _MARK = 987654321

    def __init__(self, name: str):
        self.head, _, self.tail = reverse(name, args=[self._MARK]).partition(str(self._MARK))

    def __call__(self, pk: int) -> str:
        return f"{self.head}{pk}{self.tail}"


def _people_datalist(*, exclude: Person | None = None, people=None) -> str:
    """The one ``<datalist id="people-list">`` of the people a face may be assigned to (or merged with).

    Built in Python, not by a template loop: the queue renders it on every page view.
    """
    people = (selectors.assignable_people() if people is None else people).order_by("display_name", "id")
    if exclude is not None:
        people = people.exclude(pk=exclude.pk)
    return format_html('<datalist id="people-list">{}</datalist>',
                       format_html_join("", '<option value="{} (#{})"></option>',
                                        ((p.display_name, p.pk) for p in people[:5000])))


@role_required(roles.CAN_REVIEW)
@require_GET
def queue(request):
    page = selectors.review_queue(page=_int(request.GET.get("page")))
    threshold = settings.MATCH_THRESHOLD
    crop, person_url = _UrlPattern("face-crop"), _UrlPattern("person-detail")
    photo_url, photo_image = _UrlPattern("photo-detail"), _UrlPattern("photo-image")
    now = timezone.now()
    # Everything the template shows is prepared here: 50 cards of {% url %} and filters are slow.
    for face in page.faces:
        for ident in face.pending:
            ident.confidence, ident.level = review_service.confidence_label(ident.distance, threshold)
            ident.distance_text = f"{ident.distance:.3f}"
            # More alike reads as more: a full bar for identical faces, empty at the threshold.
            ident.similarity = round(100 * max(0.0, 1 - ident.distance / threshold)) if threshold else 0
            ident.person_url = person_url(ident.candidate_id)
            ident.candidate_crop = crop(ident.candidate_face_id) if ident.candidate_face_id else ""
        face.top, face.others = face.pending[0], face.pending[1:]
        face.crop_url, face.photo_url = crop(face.pk), photo_url(face.photo_id)
        face.photo_image_url = photo_image(face.photo_id)
        face.person_url = person_url(face.person_id) if face.person_id else ""
        face.waiting = timesince(face.waiting_since, now)
    if page.faces:
        # Proposed matches are biometric data: record who was shown which.
        log_access(action="identification.list", access=Access.of(request), purpose="review",
                   detail={"page": page.page, "faces": [f.pk for f in page.faces]})
    recent = selectors.recent_decisions(request.user, since=now - review_service.UNDO_WINDOW)
    for entry in recent:
        entry["crop_url"] = crop(entry["face_id"])
    return render(request, "review/queue.html", {
        "queue": page, "people_datalist": _people_datalist(), "threshold": threshold, "recent": recent,
    })


@role_required(roles.CAN_REVIEW)
@require_POST
def undo(request):
    """Undo the reviewer's latest decision on the faces named (``face``, repeatable)."""
    form = UndoForm(request.POST)
    form.is_valid()  # always valid: a face that is not a number is refused by the service, by name
    faces = form.cleaned_data["face"]
    undone, errors = [], []
    for face_id in faces:
        try:
            review_service.undo_last_decision(face=face_id, reviewer=request.user, access=Access.of(request))
            undone.append(face_id)
        except ServiceError as exc:
            errors.append(f"Face {face_id}: {exc.message}")
    if _wants_json(request):
        return JsonResponse({"undone": undone, "errors": errors, "queue": selectors.queue_counts()},
                            status=200 if undone or not errors else 409)
    for error in errors:
        messages.error(request, error)
    if undone:
        messages.success(request, f"Undone: {len(undone)} face(s) back in the queue as before.")
    return redirect("review-queue")


@role_required(roles.CAN_REVIEW)
@require_POST
def decide(request):
    """One form for the whole queue: ``decision=<action>:<id>``, or ``bulk=<action>`` with ``selected``."""
    form = DecisionForm(request.POST)
    valid = form.is_valid()
    page = form.cleaned_data["page"]
    try:
        if not valid:
            raise ServiceError(form.first_error())
        data = form.cleaned_data
        action, idents, person = data["action"], data["identifications"], data["person"]
        if data["single"]:
            result = review_service.decide(action=action, identification=idents[0], reviewer=request.user,
                                           person=person, access=Access.of(request))
        else:
            result = review_service.bulk_decide(action=action, identifications=idents, reviewer=request.user,
                                                person=person, access=Access.of(request))
    except ServiceError as exc:
        if _wants_json(request):
            return JsonResponse({"error": exc.message}, status=exc.status)
        messages.error(request, exc.message)
        return redirect(f"{reverse('review-queue')}?page={page}")
    still = selectors.pending_face_ids(result.faces)
    if _wants_json(request):
        return JsonResponse({"decided": result.decided, "skipped": result.skipped,
                             "resolved_faces": sorted(result.faces - still), "pending_faces": sorted(still),
                             "faces": sorted(result.faces), "queue": selectors.queue_counts(),
                             "undo_url": reverse("review-undo")})
    n = len(result.faces)
    text = f"Decided {len(result.decided)} proposal(s) on {n} face(s)."
    if result.skipped:
        text += f" {len(result.skipped)} had already been decided by someone else."
    messages.success(request, text)
    return redirect(f"{reverse('review-queue')}?page={page}")


@role_required(roles.CAN_REVIEW)
@require_GET
def people(request):
    query = request.GET.get("q", "").strip()[:100]
    qs = selectors.people_overview(query=query)
    per_page = 60
    total = qs.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, _int(request.GET.get("page"))), pages)
    rows = list(qs[(page - 1) * per_page: page * per_page])
    return render(request, "review/people.html", {"people": rows, "q": query, "page": page, "pages": pages,
                                                  "total": total})


@role_required(roles.CAN_REVIEW)
@require_GET
def person_detail(request, person_id: int):
    person = selectors.person_for_review(person_id)
    if person.merged_into_id:
        messages.info(request, f"{person} was merged into {person.merged_into}.")
        return redirect("person-detail", person.merged_into_id)
    if person.erased_at:
        raise Http404("This person's data was erased.")
    faces = list(selectors.person_faces(person))
    return render(request, "review/person.html", {
        "person": person, "faces": faces,
        "people_datalist": _people_datalist(people=selectors.merge_candidates(person)),
        "enrolled": sum(f.enrolled for f in faces),
    })


@role_required(roles.CAN_MERGE)
@require_POST
def person_merge(request, person_id: int):
    """Merge in two steps: the first post shows both people's faces; only ``confirm=yes`` merges."""
    into = selectors.person_for_review(person_id)
    form = MergeForm(request.POST, into=into)
    if not form.is_valid():
        messages.error(request, form.first_error())
        return redirect("person-detail", into.pk)
    other = form.cleaned_data["other"]
    if not form.confirmed:
        into_faces, other_faces = selectors.person_faces(into), selectors.person_faces(other)
        return render(request, "review/merge_confirm.html", {
            "into": into, "other": other,
            "into_faces": list(into_faces[:8]), "other_faces": list(other_faces[:8]),
            "into_count": into_faces.count(), "other_count": other_faces.count(),
        })
    try:
        result = review_service.merge_people(into=into, other=other, reviewer=request.user,
                                             access=Access.of(request))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("person-detail", into.pk)
    moved = result.identifications_moved + result.identifications_superseded
    messages.success(request, f"Merged {other} into {into}: {result.faces} face(s), "
                              f"{result.photos} photo(s), {moved} identification(s) moved.")
    return redirect("person-detail", into.pk)


@role_required(roles.CAN_REVIEW)
@require_GET
def unassigned(request):
    """Faces that nobody holds and nothing proposes: where faces taken off someone, or unknown, go."""
    per_page = 48
    qs = selectors.unassigned_faces()
    total = qs.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, _int(request.GET.get("page"))), pages)
    faces = list(qs[(page - 1) * per_page: page * per_page])
    return render(request, "review/unassigned.html", {
        "faces": faces, "page": page, "pages": pages, "total": total, "people_datalist": _people_datalist(),
    })


@role_required(roles.CAN_REVIEW)
@require_POST
def face_assign(request, face_id: int):
    """Assign an unassigned face to a person (typed or picked from the list), through the review service."""
    face = selectors.face_for(request.user, face_id)
    form = AssignFaceForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceError(form.first_error())
        person = form.cleaned_data["person"]
        review_service.assign(face=face, person=person, reviewer=request.user, access=Access.of(request))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("unassigned-faces")
    messages.success(request, f"Face {face.pk} assigned to {person}.")
    return redirect("unassigned-faces")


@role_required(roles.CAN_REVIEW)
@require_POST
def face_unassign(request, face_id: int):
    face = selectors.face_for(request.user, face_id)
    try:
        person = review_service.unassign_face(face=face, reviewer=request.user, access=Access.of(request))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("people")
    note = " It is no longer in their gallery." if face.enrolled else ""
    messages.success(request, f"Face {face.pk} taken off {person}.{note} It is now under Unassigned faces.")
    return redirect("person-detail", person.pk)


def _hour_label(d: dict) -> str:
    return d["hour"].strftime("%H:00") if d["hour"].hour else d["hour"].strftime("%d %b")


@role_required(roles.CAN_REVIEW)
@require_GET
def stats(request):
    data = selectors.review_statistics()
    # The threshold in force is calibrated for the gallery's size (services.decision), capped
    # by MATCH_THRESHOLD; it is read for the pipeline version of the newest enrolled face.
    version = selectors.current_gallery_version()
    operating = decision.operating_point(pipeline_version=version) if version else None
    threshold = operating.threshold if operating else settings.MATCH_THRESHOLD
    order = [Photo.Status.DONE, Photo.Status.FAILED, Photo.Status.PROCESSING, Photo.Status.QUEUED,
             Photo.Status.UPLOADED]
    by_status = [(s.label, data["photos_by_status"].get(s.value, 0), charts.COLORS[s.value]) for s in order]
    bands = [(0, min(0.4, threshold), "very likely the same person"),
             (min(0.4, threshold), min(0.5, threshold), "likely the same person"),
             (min(0.5, threshold), threshold, "possibly the same person")]
    idents = data["human"]
    decided = idents.get("confirmed", 0) + idents.get("rejected", 0)
    processing = data["processing"]
    stage_rows = [(name, p) for name, p in sorted(processing["stages"].items()) if p]
    return render(request, "review/stats.html", {
        "data": data, "threshold": threshold, "decided": decided,
        "confirm_rate": (idents.get("confirmed", 0) / decided) if decided else None,
        "photos_total": sum(v for _, v, _ in by_status),
        "chart_status": charts.hbars(by_status, label="Photos by status"),
        "chart_throughput": charts.columns(data["throughput"], ["done", "failed"], x_label=_hour_label,
                                           label="Photos processed per hour"),
        "chart_depth": charts.area(data["queue_depth"], "depth", x_label=_hour_label,
                                   label="Pending identifications hour by hour"),
        "chart_distances": charts.distance_histogram(
            data["distances"]["bins"], bin_width=data["distances"]["bin_width"], threshold=threshold,
            bands=bands),
        "total_p": processing["total"], "wait_p": processing["queue_wait"], "stage_rows": stage_rows,
        "operating": operating, "threshold_ceiling": settings.MATCH_THRESHOLD,
        "operating_pct": _percentages(operating),
    })


def _percentages(operating) -> dict | None:
    """The operating point's rates as short percentages for the page."""
    if operating is None:
        return None
    return {"target": f"{operating.target_fpir * 100:.2g}", "fpir": f"{operating.expected_fpir * 100:.2g}",
            "miss": f"{operating.expected_miss_rate * 100:.2g}"}
