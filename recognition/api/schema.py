"""OpenAPI generation: every operation documents the error body for the 4xx it can answer."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. invalid, not_found, consent_required.")
    message = serializers.CharField(help_text="What went wrong and what to do, for a person.")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="Messages per invalid field (empty when not about fields).")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# 401/403 appear on every operation: they depend on the caller, not on the operation.
COMMON_ERRORS = ("400", "401", "403", "404", "405", "406", "409", "413", "415", "429")


class ApiAutoSchema(AutoSchema):
    def get_summary(self):
        """The operation's summary from :data:`SUMMARIES` (``extend_schema(summary=...)`` overrides it)."""
        return SUMMARIES.get(self.get_operation_id())

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in COMMON_ERRORS:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses


# A short summary per operation (the line Swagger UI and Redoc list), by operationId. An
# ``extend_schema(summary=...)`` on a view takes precedence; a test checks none is missing.
SUMMARIES = {
    "audit_events_list": "List access-log entries",
    "audit_export_retrieve": "Export the access log (CSV or JSON Lines)",
    "audit_verify_retrieve": "Check the access log's hash chain",
    "audit_abuse_retrieve": "Abuse signals: uploaders ranked by identify activity",
    "consent_notice_retrieve": "Read the consent notice in force",
    "consents_list": "List your consents",
    "consents_create": "Give consent",
    "consents_retrieve": "Read one of your consents",
    "consents_withdraw_create": "Withdraw a consent",
    "erasures_list": "List erasure receipts",
    "erasures_create": "Erase a person's biometric data",
    "erasures_retrieve": "Read an erasure receipt",
    "erasures_verify_create": "Check a stored receipt's signature",
    "erasures_verify_document": "Check a downloaded receipt document",
    "identifications_list": "List proposed identifications",
    "identifications_retrieve": "Read a proposed identification",
    "identifications_assign_create": "Assign the face to another person",
    "identifications_confirm_create": "Confirm a proposed identification",
    "identifications_reject_create": "Reject a proposed identification",
    "identifications_unknown_create": "Mark the face as unknown",
    "identify_create": "Identify the faces in an image",
    "people_list": "List people",
    "people_retrieve": "Read a person with their faces",
    "people_merge_create": "Merge two records of one person",
    "photos_list": "List your photos",
    "photos_create": "Upload a photo",
    "photos_retrieve": "Read a photo with its faces",
    "tokens_list": "List your API tokens",
    "tokens_create": "Create an API token",
    "tokens_retrieve": "Read one of your API tokens",
    "tokens_destroy": "Revoke an API token",
    "verify_create": "Compare the faces in two images",
    "verify_retrieve": "Read the result of a verification",
}
