"""The auditor's access-log page: the activity chart, failed sign-ins highlighted, date pickers."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from recognition.audit import log_access
from recognition.services import audit_export
from recognition.views.review_charts import FAILED_SIGN_IN_COLOR


def test_activity_counts_entries_per_hour_by_kind_with_failed_sign_ins_apart(db):
    for _ in range(3):
        log_access(action="auth.login_failed", detail={"username": "x"})
    log_access(action="auth.login")
    for _ in range(2):
        log_access(action="photo.view")
    activity = audit_export.activity_per_hour(audit_export.AuditFilter())
    assert activity["totals"] == {"auth.login_failed": 3, "auth": 1, "photo": 2}
    assert activity["kinds"][-1] == "auth.login_failed" and activity["failed_sign_ins"] == 3
    assert len(activity["series"]) in (48, 49)
    assert sum(d["photo"] for d in activity["series"]) == 2
    assert sum(d["auth.login_failed"] for d in activity["series"][-2:]) == 3  # this hour (or the last)
    later = audit_export.activity_per_hour(audit_export.AuditFilter(),
                                           now=timezone.now() + timedelta(hours=50))
    assert later["totals"] == {} and later["kinds"] == []
    only = audit_export.activity_per_hour(audit_export.parse_filter({"action": "photo."}))
    assert only["totals"] == {"photo": 2}


def test_the_log_page_charts_activity_and_calls_out_failed_sign_ins(db, client, make_user):
    for _ in range(31):
        log_access(action="auth.login_failed", detail={"username": "root"})
    client.force_login(make_user("audrey", "auditor"))
    page = client.get(reverse("audit-log"), {"since": "2026-01-01"}).content.decode()
    assert "31 failed sign-ins" in page
    assert f'fill="{FAILED_SIGN_IN_COLOR}"' in page and 'aria-label="Access-log entries per hour' in page
    assert 'type="datetime-local" name="since" value="2026-01-01T00:00"' in page
