"""A broker outage: reads keep working, what needs the broker answers 503, uploads are kept and done after.

Real processes against a throwaway PostgreSQL and Redis (never the shared test ones): a
gunicorn web server, then a Celery worker. The real Redis is stopped (a clean SHUTDOWN,
as in tests/test_faults.py) while an API client and a signed-in browser use the site.
"""

from __future__ import annotations

import pytest
import requests
from helpers import FACES, throwaway_stack

from bench.stack import Stack, WebClient, wait_until

PASSWORD = "outage-test-password"

SETUP = """
from pathlib import Path
from django.contrib.auth.models import Group, User
from recognition.api.tokens import create_token
from recognition.models import Consent
from recognition.services.consent import give_consent, person_for_user
from recognition.services.photos import upload_photo

ana = User.objects.create_user("ana", password={password!r})
ana.groups.add(Group.objects.get(name="uploader"))
give_consent(person=person_for_user(ana), purposes={{"enrol", "identify"}}, method=Consent.Method.WEB,
             given_by=ana)
photo = upload_photo(uploader=ana, file=Path({face!r}).read_bytes(), purpose="enrol",
                     filename="obama.jpg").photo
result = {{"key": create_token(user=ana, name="door").key, "photo": photo.pk}}
"""


@pytest.fixture
def stack(settings):
    with throwaway_stack("outage", settings.MODEL_CACHE_DIR,
                         {"STUCK_PHOTO_AFTER_S": "2", "FACEWEB_TF_THREADS": "1"}) as stack:
        yield stack


def statuses(stack: Stack) -> dict[int, str]:
    return dict(stack.sql("SELECT id, status FROM recognition_photo"))


@pytest.mark.slow
def test_with_redis_down_reads_answer_writes_needing_it_answer_503_and_uploads_are_done_after(stack):
    stack.manage("migrate", "--noinput", "--skip-checks")
    web, base = stack.start_web()
    setup = stack.django(SETUP.format(password=PASSWORD, face=str(FACES / "obama.jpg")))
    api = requests.Session()
    api.headers["Authorization"] = f"Token {setup['key']}"
    browser = WebClient(base)
    browser.login("ana", PASSWORD)

    stack.stop_redis()

    # Reads that need no broker: 200, every time (the throttle counts in the process meanwhile).
    reads = [api.get(f"{base}/api/v1/photos/", timeout=30).status_code for _ in range(20)]
    reads += [api.get(f"{base}/api/v1/photos/{setup['photo']}/", timeout=30).status_code,
              api.get(f"{base}/api/v1/consents/", timeout=30).status_code,
              browser.session.get(f"{base}/photos/", timeout=30).status_code]
    assert reads == [200] * len(reads)

    # What needs the broker now: 503, Retry-After, the API's one error body.
    image = ("a.jpg", (FACES / "obama.jpg").read_bytes(), "image/jpeg")
    verify = api.post(f"{base}/api/v1/verify/", timeout=30, files={"image1": image, "image2": image})
    assert verify.status_code == 503, verify.text[:2000]
    assert int(verify.headers["Retry-After"]) > 0
    assert verify.json()["error"]["code"] == "unavailable" and verify.json()["error"]["message"]

    # Uploads are accepted and kept (their queueing is left to the sweep).
    uploaded = api.post(f"{base}/api/v1/photos/", data={"purpose": "identify"}, timeout=60,
                        files={"file": ("two.jpg", (FACES / "two_people.jpg").read_bytes(), "image/jpeg")})
    assert uploaded.status_code == 201, uploaded.text[:2000]
    identify = api.post(f"{base}/api/v1/identify/", timeout=60,
                        files={"file": ("biden.jpg", (FACES / "biden.jpg").read_bytes(), "image/jpeg")})
    assert identify.status_code == 202, identify.text[:2000]
    page = browser.upload([FACES / "obama2.jpg"], "identify")
    assert page.status_code == 302, page.text[:2000]
    assert len(statuses(stack)) == 4
    assert "Internal Server Error" not in web.log()

    # Redis is back, a worker starts, beat's sweep sends what was kept: every photo is done.
    stack.start_redis()
    stack.start_worker("after")

    def all_done() -> bool:
        if set(statuses(stack).values()) == {"done"}:
            return True
        stack.django("from recognition.tasks import sweep_stuck_photos\nsweep_stuck_photos.delay()")
        return False

    wait_until(all_done, timeout=240, every=5, what="every photo kept during the outage to be processed",
               on_timeout=lambda: str(statuses(stack)))
    assert api.get(f"{base}/api/v1/photos/", timeout=30).json()["count"] == 4
