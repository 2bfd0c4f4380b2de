"""URLs of the REST API v1 (included from faceweb/urls.py under /api/v1/)."""

from django.conf import settings
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from recognition.api import views
from recognition.api import views_compliance as compliance
from recognition.views import tokens as token_pages


class _DocsPolicy:
    """Swagger UI and Redoc inject styles at run time: their pages get the looser docs policy."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = settings.API_DOCS_CONTENT_SECURITY_POLICY
        return response


class SwaggerView(_DocsPolicy, SpectacularSwaggerSplitView):
    """Swagger UI with its settings in a script file of its own (no inline script)."""


class RedocView(_DocsPolicy, SpectacularRedocView):
    """Redoc from the sidecar's static files; templates/drf_spectacular/redoc.html loads no CDN font."""


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # The HTML tokens page (recognition/views/tokens.py), under the prefix of the API it serves.
    path("tokens/manage/", token_pages.token_page, name="api-tokens"),
    path("tokens/manage/<int:token_id>/revoke", token_pages.token_revoke_page, name="api-token-revoke"),
    path("tokens/", views.TokenList.as_view(), name="api-token-list"),
    path("tokens/<int:token_id>/", views.TokenDetail.as_view(), name="api-token-detail"),
    path("consent-notice/", views.ConsentNoticeView.as_view(), name="api-consent-notice"),
    path("consents/", views.ConsentList.as_view(), name="api-consent-list"),
    path("consents/<int:consent_id>/", views.ConsentDetail.as_view(), name="api-consent-detail"),
    path("consents/<int:consent_id>/withdraw/", views.ConsentWithdraw.as_view(), name="api-consent-withdraw"),
    path("photos/", views.PhotoList.as_view(), name="api-photo-list"),
    path("photos/<int:photo_id>/", views.PhotoDetail.as_view(), name="api-photo-detail"),
    path("identify/", views.Identify.as_view(), name="api-identify"),
    path("verify/", views.Verify.as_view(), name="api-verify"),
    path("verify/<uuid:verification_id>/", views.VerifyDetail.as_view(), name="api-verify-detail"),
    path("people/", views.PeopleList.as_view(), name="api-person-list"),
    path("people/<int:person_id>/", views.PersonDetail.as_view(), name="api-person-detail"),
    path("people/<int:person_id>/merge/", views.PersonMerge.as_view(), name="api-person-merge"),
    path("identifications/", views.IdentificationList.as_view(), name="api-identification-list"),
    path("identifications/<int:identification_id>/", views.IdentificationDetail.as_view(),
         name="api-identification-detail"),
    path("identifications/<int:identification_id>/confirm/", views.IdentificationConfirm.as_view(),
         name="api-identification-confirm"),
    path("identifications/<int:identification_id>/reject/", views.IdentificationReject.as_view(),
         name="api-identification-reject"),
    path("identifications/<int:identification_id>/unknown/", views.IdentificationUnknown.as_view(),
         name="api-identification-unknown"),
    path("identifications/<int:identification_id>/assign/", views.IdentificationAssign.as_view(),
         name="api-identification-assign"),
    path("audit/events/", compliance.AuditEvents.as_view(), name="api-audit-events"),
    path("audit/export/", compliance.AuditExport.as_view(), name="api-audit-export"),
    path("audit/verify/", compliance.AuditVerify.as_view(), name="api-audit-verify"),
    path("audit/abuse/", compliance.AbuseSignals.as_view(), name="api-audit-abuse"),
    path("erasures/", compliance.ErasureList.as_view(), name="api-erasure-list"),
    path("erasures/verify/", compliance.ErasureDocumentVerify.as_view(), name="api-erasure-document-verify"),
    path("erasures/<uuid:receipt_id>/", compliance.ErasureDetail.as_view(), name="api-erasure-detail"),
    path("erasures/<uuid:receipt_id>/verify/", compliance.ErasureVerify.as_view(), name="api-erasure-verify"),
    re_path(r"^.*$", views.not_found),  # last: JSON 404 for ids that are not numbers, unknown paths
]
