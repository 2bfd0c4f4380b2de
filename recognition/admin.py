"""The Django admin for the core models: for inspecting and small corrections, no more.

Biometric data stays out of it: embeddings and image files are read-only and never shown
in list views, and no crop or photo is displayed (those go through the role-checked,
logged views). Rows are not deleted here: erasure has its own service, which leaves a
receipt and an access-log entry; the access log and receipts are read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from recognition.models import (
    EMBEDDING_DIM,
    AccessEvent,
    ApiToken,
    Consent,
    ConsentNotice,
    ErasureReceipt,
    Face,
    Identification,
    Person,
    Photo,
    RetentionPolicy,
)


class NoDeleteAdmin(admin.ModelAdmin):
    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoDeleteAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Person)
class PersonAdmin(NoDeleteAdmin):
    list_display = ("display_name", "pseudonym", "user", "created_at", "last_interaction_at", "erased_at",
                    "merged_into")
    list_filter = ("erased_at",)
    search_fields = ("display_name", "pseudonym", "user__username")
    readonly_fields = ("pseudonym", "created_at", "erased_at", "merged_into")
    raw_id_fields = ("user",)


@admin.register(ConsentNotice)
class ConsentNoticeAdmin(NoDeleteAdmin):
    list_display = ("version", "published_at", "sha256")
    readonly_fields = ("sha256",)

    def has_change_permission(self, request, obj=None):
        return obj is None  # a published text is evidence: never edited, a new version is published


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ("person", "notice_version", "purpose_enrol", "purpose_identify", "method", "given_at",
                    "expires_at", "withdrawn_at")
    list_filter = ("method", "purpose_enrol", "purpose_identify", "notice_version")
    search_fields = ("person__display_name", "person__pseudonym")
    list_select_related = ("person",)


@admin.register(Photo)
class PhotoAdmin(NoDeleteAdmin):
    list_display = ("id", "purpose", "status", "uploader", "person", "width", "height", "created_at",
                    "finished_at")
    list_filter = ("status", "purpose")
    search_fields = ("original_name", "sha256", "person__display_name", "uploader__username")
    list_select_related = ("uploader", "person")
    exclude = ("file",)
    readonly_fields = ("stored_file", "uploader", "person", "consent", "purpose", "original_name", "sha256",
                       "size_bytes", "width", "height", "image_format", "timings", "pipeline_version",
                       "created_at", "queued_at", "started_at", "finished_at", "attempts")

    @admin.display(description="File")
    def stored_file(self, obj: Photo):
        # No link to the file itself: the photo page checks the role and logs the view.
        return format_html('{} · <a href="{}">open the photo page</a>', obj.file.name,
                           reverse("photo-detail", args=[obj.pk]))


@admin.register(Face)
class FaceAdmin(NoDeleteAdmin):
    list_display = ("id", "photo", "index", "person", "enrolled", "is_good", "quality", "pipeline_version",
                    "created_at")
    list_filter = ("enrolled", "is_good", "pipeline_version")
    search_fields = ("person__display_name", "person__pseudonym")
    list_select_related = ("person",)
    exclude = ("embedding",)
    readonly_fields = ("embedding_summary", "photo", "index", "box", "landmarks", "det_score", "quality",
                       "quality_reasons", "is_good", "enrolled", "pipeline_version", "created_at")
    raw_id_fields = ("person",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding")

    @admin.display(description="Embedding")
    def embedding_summary(self, obj: Face) -> str:
        return f"{EMBEDDING_DIM}-dimensional vector from {obj.pipeline_version} (not shown)"


@admin.register(Identification)
class IdentificationAdmin(NoDeleteAdmin):
    list_display = ("id", "face", "candidate", "distance", "rank", "status", "decided_by", "decided_at",
                    "created_at")
    list_filter = ("status",)
    search_fields = ("candidate__display_name", "candidate__pseudonym")
    list_select_related = ("candidate", "decided_by", "face")
    readonly_fields = ("face", "candidate", "distance", "rank", "decided_by", "decided_at", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("face__embedding")


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "at", "actor_name", "role", "action", "object_type", "object_id", "person_ref")
    list_filter = ("action", "role")
    search_fields = ("actor_name", "action", "person_ref", "object_id", "request_id")
    date_hierarchy = "at"


@admin.register(ErasureReceipt)
class ErasureReceiptAdmin(ReadOnlyAdmin):
    list_display = ("id", "person_ref", "requested_by", "reason", "erased_at")
    search_fields = ("person_ref", "requested_by")


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(NoDeleteAdmin):
    list_display = ("unknown_face_days", "inactive_person_days", "updated_at", "updated_by")


@admin.register(ApiToken)
class ApiTokenAdmin(NoDeleteAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    list_select_related = ("user",)
