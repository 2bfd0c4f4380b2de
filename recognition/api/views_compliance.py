"""REST API v1 for auditors (the access log) and operators (erasure and receipts)."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import audit, roles, selectors
from recognition.access import Access
from recognition.api import serializers as s
from recognition.api.permissions import require
from recognition.api.views import Pagination, body, query
from recognition.models import ErasureReceipt
from recognition.services import abuse, audit_export, erasure


def audit_filter(request) -> audit_export.AuditFilter:
    """The page's filter parsing (recognition.services.audit_export): the same rules and errors."""
    query(s.AuditQuery, request)  # types and lengths, with the fields at fault
    return audit_export.parse_filter(request.query_params.dict())


class AuditEvents(generics.ListAPIView):
    """The access log, oldest first, filtered by time, actor, person (pseudonym) and action."""

    serializer_class = s.AccessEventSerializer
    permission_classes = [require(roles.CAN_AUDIT)]
    pagination_class = Pagination

    def get_queryset(self):
        return audit_export.filtered_events(audit_filter(self.request)).order_by("id")

    @extend_schema(parameters=[s.AuditQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class _Passthrough(BaseRenderer):
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes | str) else json.dumps(data).encode()


class CSVRenderer(_Passthrough):
    media_type = "text/csv"
    format = "csv"


class JSONLinesRenderer(_Passthrough):
    media_type = "application/x-ndjson"
    format = "jsonl"


class AuditExport(APIView):
    """The filtered access log as a file: ``?format=csv`` (default) or ``?format=jsonl``, streamed."""

    permission_classes = [require(roles.CAN_AUDIT)]
    renderer_classes = [CSVRenderer, JSONLinesRenderer, JSONRenderer]

    @extend_schema(
        parameters=[s.AuditQuery, OpenApiParameter("format", str, enum=["csv", "jsonl"], required=False)],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/x-ndjson"): OpenApiTypes.STR})
    def get(self, request):
        fmt = getattr(request.accepted_renderer, "format", "csv")
        fmt = fmt if fmt in audit_export.FORMATS else "csv"
        chunks = audit_export.start_export(f=audit_filter(request), fmt=fmt, actor=request.user,
                                           access=Access.of(request), via="api")
        content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(chunks, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{audit_export.export_filename(fmt)}"'
        return response

    def handle_exception(self, exc):
        # Errors are JSON whatever file format was asked for.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


class AuditVerify(APIView):
    permission_classes = [require(roles.CAN_AUDIT)]

    @extend_schema(responses=s.ChainReportSerializer)
    def get(self, request):
        """Walk the whole log and check every entry's hash chain."""
        report = audit.verify_chain()
        audit_export.log_verification(report=report, actor=request.user, access=Access.of(request), via="api")
        return Response(s.ChainReportSerializer(report).data)




class ErasureList(generics.ListAPIView):
    """Erasure receipts, newest first. POST erases a person's biometric data and returns the receipt."""

    serializer_class = s.ReceiptSerializer
    permission_classes = [require(roles.CAN_VIEW_RECEIPTS)]
    pagination_class = Pagination

    def get_permissions(self):
        if self.request.method == "POST":
            return [require(roles.CAN_ERASE)()]
        return super().get_permissions()

    def get_queryset(self):
        return ErasureReceipt.objects.order_by("-erased_at")

    @extend_schema(request=s.ErasureRequestSerializer, responses={201: s.ReceiptSerializer})
    def post(self, request):
        data = body(s.ErasureRequestSerializer, request)
        person = selectors.person_for_review(data["person"])
        # The table rewrite (VACUUM FULL) goes to a worker: the request does not wait on it.
        receipt = erasure.erase_person(person=person, actor=request.user, reason=data["reason"],
                                       access=Access.of(request), vacuum=erasure.VACUUM_QUEUE)
        return Response(s.ReceiptSerializer(receipt).data, status=status.HTTP_201_CREATED)


class AbuseSignals(APIView):
    """Uploaders ranked by identify requests (or by distinct people matched), flagged over the rates."""

    permission_classes = [require(roles.CAN_AUDIT)]

    @extend_schema(parameters=[s.AbuseQuery], responses=s.AbuseReportSerializer)
    def get(self, request):
        params = query(s.AbuseQuery, request)
        days = params.get("days") or settings.ABUSE_WINDOW_DAYS
        rows = abuse.identify_activity(days=days, order=params.get("order", "requests"))
        return Response(s.AbuseReportSerializer({
            "days": days, "flag_identify_per_day": settings.ABUSE_FLAG_IDENTIFY_PER_DAY,
            "flag_people_per_day": settings.ABUSE_FLAG_PEOPLE_PER_DAY,
            "identify_quota_per_day": settings.IDENTIFY_QUOTA_PER_DAY, "uploaders": rows}).data)


def _receipt(receipt_id) -> ErasureReceipt:
    receipt = ErasureReceipt.objects.filter(pk=receipt_id).first()
    if receipt is None:
        raise Http404("No such receipt.")
    return receipt


class ErasureDetail(APIView):
    permission_classes = [require(roles.CAN_VIEW_RECEIPTS)]

    @extend_schema(responses=s.ReceiptSerializer)
    def get(self, request, receipt_id):
        return Response(s.ReceiptSerializer(_receipt(receipt_id)).data)


class ErasureVerify(APIView):
    permission_classes = [require(roles.CAN_VIEW_RECEIPTS)]

    @extend_schema(request=None, responses=s.ReceiptCheckSerializer)
    def post(self, request, receipt_id):
        """Check the receipt's signature against its content (tampering shows)."""
        check = erasure.verify_receipt(_receipt(receipt_id))
        return Response({"valid": check.ok, "message": check.reason})


class ErasureDocumentVerify(APIView):
    permission_classes = [require(roles.CAN_VIEW_RECEIPTS)]

    @extend_schema(operation_id="erasures_verify_document", request=s.ReceiptDocumentSerializer,
                   responses=s.ReceiptCheckSerializer)
    def post(self, request):
        """Check a downloaded receipt document (``payload`` and ``signature``) against this server's key."""
        data = body(s.ReceiptDocumentSerializer, request)
        check = erasure.verify_receipt({"payload": data["payload"], "signature": data["signature"]})
        return Response({"valid": check.ok, "message": check.reason})
