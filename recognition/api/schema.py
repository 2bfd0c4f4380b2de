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
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in COMMON_ERRORS:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses
