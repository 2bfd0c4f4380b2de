"""URLs of the compliance area (included from faceweb/urls.py at /compliance/)."""

from django.urls import path

from recognition.views import compliance

urlpatterns = [
    path("audit/", compliance.audit_log, name="audit-log"),
    path("audit/export", compliance.audit_export_view, name="audit-export"),
    path("audit/verify", compliance.audit_verify, name="audit-verify"),
    path("audit/public-key", compliance.audit_public_key, name="audit-public-key"),
    path("abuse/", compliance.abuse_signals, name="abuse-signals"),
    path("erasure/", compliance.erasure_page, name="erasure"),
    path("erasure/receipts/<uuid:receipt_id>/", compliance.erasure_receipt, name="erasure-receipt"),
    path("erasure/receipts/verify", compliance.receipt_verify, name="receipt-verify"),
    path("retention/", compliance.retention_policy, name="retention-policy"),
    path("retention/dry-run", compliance.retention_dry_run, name="retention-dry-run"),
]
