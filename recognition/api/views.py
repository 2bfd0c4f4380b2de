"""REST API v1 views: thin. Each checks the role, calls a selector or a service, serialises.

Permissions are the pages' (recognition.roles); objects of others answer 404; every
error has the body ``{"error": {"code", "message", "fields"}}`` (see exceptions.py).
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import roles, selectors
from recognition.access import Access
from recognition.api import serializers as s
from recognition.api import services as api_services
from recognition.api import tokens
from recognition.api.exceptions import error_body
from recognition.api.permissions import SessionOnly, require
from recognition.api.schema import ErrorSerializer
from recognition.exceptions import InvalidUpload
from recognition.models import Consent, Person
from recognition.services import consent as consent_service
from recognition.services import review as review_service
from recognition.services.photos import upload_photo
from recognition.uploads import refused_upload


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.getlist(self.page_query_param)
        if len(raw) > 1 or (raw and not (raw[0].isdigit() and int(raw[0]) >= 1)):
            raise ValidationError({self.page_query_param: ["One page number (a whole number from 1)."]})
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request):
        # DRF ignores a page_size it cannot read; say so instead.
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        raw = values[-1]
        if len(values) > 1 or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [
                f"A whole number from 1 to {self.max_page_size} is required."]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_size_query_param:
                param["schema"].update({"minimum": 1, "maximum": self.max_page_size})
            elif param["name"] == self.page_query_param:
                param["schema"]["minimum"] = 1
        return params


@csrf_exempt  # it changes nothing, and a POST to a wrong URL deserves the same 404
def not_found(request, *args, **kwargs):
    """Any other path under /api/v1/: the API's 404 body, not the HTML page."""
    return JsonResponse(error_body("not_found", "No such API endpoint or object: check the URL."), status=404)


def query(serializer_class, request) -> dict:
    """Validated query parameters (400 with the fields at fault otherwise)."""
    # A plain dict, not the QueryDict: DRF reads an empty value in a QueryDict as "absent",
    # and ``?since=`` must be an error, not silently no filter.
    repeated = {k: ["Give this parameter once."] for k, v in request.query_params.lists() if len(v) > 1}
    if repeated:
        raise ValidationError(repeated)
    ser = serializer_class(data=request.query_params.dict())
    ser.is_valid(raise_exception=True)
    return ser.validated_data


def body(serializer_class, request) -> dict:
    data = request.data
    refused = refused_upload(request)  # a file over the limit: its upload was cut off
    if refused:
        raise InvalidUpload(refused)
    ser = serializer_class(data=data)
    ser.is_valid(raise_exception=True)
    return ser.validated_data


# --- tokens -------------------------------------------------------------------------------------

class TokenList(generics.ListAPIView):
    """Your API tokens (never their keys). Creating one needs a signed-in session (the tokens page)."""

    serializer_class = s.TokenSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination

    def get_permissions(self):
        return [SessionOnly()] if self.request.method == "POST" else super().get_permissions()

    def get_queryset(self):
        return tokens.tokens_for(self.request.user)

    @extend_schema(request=s.TokenCreateSerializer, responses={201: s.IssuedTokenSerializer})
    def post(self, request):
        issued = tokens.create_token(user=request.user, name=body(s.TokenCreateSerializer, request)["name"])
        data = s.IssuedTokenSerializer(issued.token).data | {"key": issued.key}
        return Response(data, status=status.HTTP_201_CREATED)


class TokenDetail(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.TokenSerializer)
    def get(self, request, token_id: int):
        return Response(s.TokenSerializer(tokens.token_for(request.user, token_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, token_id: int):
        """Revoke the token: it is refused from the next request on."""
        tokens.revoke_token(token=tokens.token_for(request.user, token_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- consent ------------------------------------------------------------------------------------

class ConsentNoticeView(APIView):
    permission_classes = [require(roles.CAN_CONSENT)]

    @extend_schema(responses=s.NoticeSerializer)
    def get(self, request):
        """The consent notice in force: read it, then give consent quoting its sha256."""
        return Response(s.NoticeSerializer(consent_service.current_notice()).data)


class ConsentList(generics.ListAPIView):
    """Your consents, newest first."""

    serializer_class = s.ConsentSerializer
    permission_classes = [require(roles.CAN_CONSENT)]
    pagination_class = Pagination

    def get_queryset(self):
        return selectors.consents_for(self.request.user)

    @extend_schema(request=s.ConsentCreateSerializer, responses={201: s.ConsentSerializer})
    def post(self, request):
        """Give consent to the current notice for enrol and/or identify."""
        data = body(s.ConsentCreateSerializer, request)
        consent = consent_service.give_consent(
            person=consent_service.person_for_user(request.user), purposes=set(data["purposes"]),
            method=Consent.Method.API, given_by=request.user, notice_sha256=data["notice_sha256"],
            user_agent=request.headers.get("User-Agent", ""), access=Access.of(request))
        return Response(s.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class ConsentDetail(APIView):
    permission_classes = [require(roles.CAN_CONSENT)]

    @extend_schema(responses=s.ConsentSerializer)
    def get(self, request, consent_id: int):
        return Response(s.ConsentSerializer(selectors.consent_for(request.user, consent_id)).data)


class ConsentWithdraw(APIView):
    permission_classes = [require(roles.CAN_CONSENT)]

    @extend_schema(request=None, responses=s.ConsentSerializer)
    def post(self, request, consent_id: int):
        """Withdraw a consent; with none left active, your biometric data is erased."""
        consent = selectors.consent_for(request.user, consent_id)
        consent = consent_service.withdraw_consent(consent=consent, actor=request.user,
                                                   access=Access.of(request))
        return Response(s.ConsentSerializer(consent).data)


# --- photos ---------------------------------------------------------------------------------------

class PhotoList(generics.ListAPIView):
    """Your uploads, newest first; filter by status and purpose."""

    serializer_class = s.PhotoSerializer
    permission_classes = [require(roles.CAN_UPLOAD)]
    pagination_class = Pagination
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        filters = query(s.PhotoListQuery, self.request)
        return selectors.photos_for(self.request.user).filter(uploader=self.request.user, **filters)

    @extend_schema(parameters=[s.PhotoListQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": s.PhotoUploadSerializer},
                   responses={201: s.PhotoSerializer, 200: s.PhotoSerializer})
    def post(self, request):
        """Upload a photo under your active consent; it is queued for processing (201; 200 if a repeat)."""
        data = body(s.PhotoUploadSerializer, request)
        result = upload_photo(uploader=request.user, file=data["file"], purpose=data["purpose"],
                              filename=data["file"].name, access=Access.of(request))
        return Response(s.PhotoSerializer(result.photo, context={"request": request}).data,
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class PhotoDetail(APIView):
    permission_classes = [require(roles.CAN_VIEW_PHOTO)]

    @extend_schema(responses=s.PhotoDetailSerializer)
    def get(self, request, photo_id: int):
        """Status and faces, each with its outcome for you; reviewers also get the proposals (logged)."""
        photo, outcomes = api_services.photo_with_results(user=request.user, photo_id=photo_id,
                                                          access=Access.of(request))
        context = {"request": request, "outcomes": outcomes}
        return Response(s.PhotoDetailSerializer(photo, context=context).data)


class Identify(APIView):
    permission_classes = [require(roles.CAN_UPLOAD)]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(parameters=[s.WaitQuery], request={"multipart/form-data": s.IdentifyUploadSerializer},
                   responses={200: s.PhotoDetailSerializer,
                              202: OpenApiResponse(s.PhotoDetailSerializer, description="Accepted, not "
                                                   "processed yet: poll status_url.")})
    def post(self, request):
        """Upload an image to identify. With ``wait``, answer with each face's outcome when ready.

        Before a reviewer confirms a face its outcome is ``awaiting_review`` or ``not_identified``:
        names of candidates are never returned to the uploader (docs/rules.md).
        """
        wait = query(s.WaitQuery, request)["wait"]
        data = body(s.IdentifyUploadSerializer, request)
        result = upload_photo(uploader=request.user, file=data["file"], purpose="identify",
                              filename=data["file"].name, access=Access.of(request))
        photo = api_services.wait_for_photo(user=request.user, photo_id=result.photo.pk, wait_s=wait)
        done = photo.status in api_services.FINAL
        outcomes = []
        if done:
            photo, outcomes = api_services.photo_with_results(user=request.user, photo_id=photo.pk,
                                                              access=Access.of(request))
        context = {"request": request, "outcomes": outcomes}
        return Response(s.PhotoDetailSerializer(photo, context=context).data,
                        status=status.HTTP_200_OK if done else status.HTTP_202_ACCEPTED)


def _verification_body(request, verification_id: str, result: dict | None) -> Response:
    url = request.build_absolute_uri(f"/api/v1/verify/{verification_id}/")
    if result is None:
        body = {"id": verification_id, "status": "pending", "status_url": url}
        return Response(s.VerifyPendingSerializer(body).data, status=status.HTTP_202_ACCEPTED)
    body = {"id": verification_id, "status": "done", "status_url": url, **result}
    if not selectors.sees_candidates(request.user):
        # Same or different is the answer; the distance is a reviewer's tool (docs/rules.md).
        body = {k: v for k, v in body.items() if k not in ("distance", "threshold")}
    return Response(s.VerifyResultSerializer(body).data)


class Verify(APIView):
    permission_classes = [require(roles.CAN_UPLOAD)]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(parameters=[s.WaitQuery], request={"multipart/form-data": s.VerifyRequestSerializer},
                   responses={200: s.VerifyResultSerializer,
                              202: OpenApiResponse(s.VerifyPendingSerializer, description="Accepted, not "
                                                   "compared yet: poll status_url."),
                              503: ErrorSerializer})
    def post(self, request):
        """Are the faces in two images the same person? The images are compared in memory, never stored.

        Answers 202 with a ``status_url`` at once (``?wait=`` seconds, capped, to wait for it).
        """
        wait = query(s.WaitQuery, request)["wait"]
        data = body(s.VerifyRequestSerializer, request)
        verification_id = api_services.submit_verification(user=request.user, image1=data["image1"],
                                                           image2=data["image2"])
        result = api_services.wait_for_verification(user=request.user, verification_id=verification_id,
                                                    wait_s=wait, access=Access.of(request))
        return _verification_body(request, verification_id, result)


class VerifyDetail(APIView):
    permission_classes = [require(roles.CAN_UPLOAD)]

    @extend_schema(responses={200: s.VerifyResultSerializer,
                              202: OpenApiResponse(s.VerifyPendingSerializer,
                                                   description="Not compared yet."),
                              404: ErrorSerializer})
    def get(self, request, verification_id: str):
        """The result of a verification you asked for (kept for VERIFY_KEEP_S seconds); 202 while pending."""
        result = api_services.verification_result(user=request.user, verification_id=str(verification_id),
                                                  access=Access.of(request))
        return _verification_body(request, str(verification_id), result)


# --- people and review ------------------------------------------------------------------------------

class PeopleList(generics.ListAPIView):
    """People who can hold faces (not erased, not merged away), with counts."""

    serializer_class = s.PersonListSerializer
    permission_classes = [require(roles.CAN_VIEW_PERSON)]
    pagination_class = Pagination

    def get_queryset(self):
        return selectors.people_overview(query=query(s.PeopleQuery, self.request).get("q", ""))

    @extend_schema(parameters=[s.PeopleQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class PersonDetail(APIView):
    permission_classes = [require(roles.CAN_VIEW_PERSON)]

    @extend_schema(responses=s.PersonDetailSerializer)
    def get(self, request, person_id: int):
        return Response(s.PersonDetailSerializer(selectors.person_for_review(person_id)).data)


class PersonMerge(APIView):
    permission_classes = [require(roles.CAN_MERGE)]

    @extend_schema(request=s.MergeSerializer, responses=s.PersonDetailSerializer)
    def post(self, request, person_id: int):
        """Merge this person into ``into`` (one human recorded twice); this one stays as an empty shell."""
        into_id = body(s.MergeSerializer, request)["into"]
        other = selectors.person_for_review(person_id)
        into = selectors.person_for_review(into_id)
        result = review_service.merge_people(into=into, other=other, reviewer=request.user,
                                             access=Access.of(request))
        return Response(s.PersonDetailSerializer(Person.objects.get(pk=result.person.pk)).data)


class IdentificationList(generics.ListAPIView):
    """Proposed identifications (pending by default), oldest first; reading them is logged."""

    serializer_class = s.IdentificationSerializer
    permission_classes = [require(roles.CAN_REVIEW)]
    pagination_class = Pagination

    def get_queryset(self):
        wanted = query(s.IdentificationQuery, self.request)["status"]
        idents = selectors.identifications_for(self.request.user).filter(status=wanted)
        return idents.order_by("created_at", "id")

    @extend_schema(parameters=[s.IdentificationQuery])
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        shown = [row["id"] for row in response.data["results"]]
        api_services.log_identifications_read(access=Access.of(request), ids=shown)
        return response


class IdentificationDetail(APIView):
    permission_classes = [require(roles.CAN_REVIEW)]

    @extend_schema(responses=s.IdentificationSerializer)
    def get(self, request, identification_id: int):
        ident = selectors.identification_for(request.user, identification_id)
        api_services.log_identifications_read(access=Access.of(request), ids=[ident.pk])
        return Response(s.IdentificationSerializer(ident).data)


class _Decision(APIView):
    permission_classes = [require(roles.CAN_REVIEW)]
    action = ""

    def decide(self, request, identification_id: int, person=None):
        ident = selectors.identification_for(request.user, identification_id)
        review_service.decide(action=self.action, identification=ident.pk, reviewer=request.user,
                              person=person, access=Access.of(request))
        return Response(s.IdentificationSerializer(selectors.identification_for(request.user, ident.pk)).data)


class IdentificationConfirm(_Decision):
    action = review_service.CONFIRM

    @extend_schema(request=None, responses=s.IdentificationSerializer)
    def post(self, request, identification_id: int):
        """The face is the candidate: it is assigned to them; the face's other proposals are rejected."""
        return self.decide(request, identification_id)


class IdentificationReject(_Decision):
    action = review_service.REJECT

    @extend_schema(request=None, responses=s.IdentificationSerializer)
    def post(self, request, identification_id: int):
        """The face is not the candidate; its other proposals stay in the queue."""
        return self.decide(request, identification_id)


class IdentificationUnknown(_Decision):
    action = review_service.UNKNOWN

    @extend_schema(request=None, responses=s.IdentificationSerializer)
    def post(self, request, identification_id: int):
        """None of the candidates: every pending proposal of the face is rejected."""
        return self.decide(request, identification_id)


class IdentificationAssign(_Decision):
    action = review_service.ASSIGN

    @extend_schema(request=s.AssignSerializer, responses=s.IdentificationSerializer)
    def post(self, request, identification_id: int):
        """The face is ``person`` (someone other than proposed, or the candidate)."""
        person = selectors.person_for_review(body(s.AssignSerializer, request)["person"])
        return self.decide(request, identification_id, person=person)
