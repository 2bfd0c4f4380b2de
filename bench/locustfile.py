"""Load profile for ``python -m bench.loadtest`` (run by locust, headless; never on its own).

Reviewers sign in and page through the review queue, loading every face crop of the page
as a browser would; uploaders upload photos and identify them through the API, polling the
status URL until the photo is processed; a probe reads ``/healthz`` once a second. The
run's parameters (accounts, tokens, photos, limits) come from the JSON file named by
``FACEWEB_LOAD_CONFIG``, written by ``bench.loadtest``.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from pathlib import Path

import gevent
from locust import HttpUser, between, constant, events, task

CONFIG = json.loads(Path(os.environ["FACEWEB_LOAD_CONFIG"]).read_text())
PHOTOS = [Path(p).read_bytes() for p in CONFIG["photos"]]
CROP = re.compile(r'src="(/faces/\d+/crop\.jpg)"')
_sent = {"requests": 0}
_RUNNER: dict = {}


@events.init.add_listener
def _keep_runner(environment, **kwargs):
    _RUNNER["runner"] = environment.runner


@events.request.add_listener
def _stop_after_max_requests(**kwargs):
    """Bound the run by request count as well as by time."""
    _sent["requests"] += 1
    if _sent["requests"] == CONFIG["max_requests"]:
        gevent.spawn(_RUNNER["runner"].quit)  # not from inside the user's own greenlet


def unique_photo() -> bytes:
    """A fixture photo made distinct (bytes after the JPEG's end): each upload is a new photo."""
    return random.choice(PHOTOS) + os.urandom(16)  # noqa: S311 - a load mix, not security


class Reviewer(HttpUser):
    fixed_count = CONFIG["reviewers"]
    wait_time = between(0.5, 1.5)

    def on_start(self):
        account = CONFIG["reviewer_accounts"][random.randrange(len(CONFIG["reviewer_accounts"]))]  # noqa: S311
        self.client.get("/accounts/login/", name="GET /accounts/login/")
        token = self.client.cookies.get("csrftoken", "")
        self.client.post("/accounts/login/", {"username": account, "password": CONFIG["password"],
                                              "csrfmiddlewaretoken": token},
                         headers={"Referer": self.host + "/accounts/login/"}, name="POST /accounts/login/")

    @task
    def page_the_queue(self):
        page = random.randint(1, CONFIG["queue_pages"])  # noqa: S311
        response = self.client.get(f"/review/?page={page}", name="GET /review/?page=N")
        for url in CROP.findall(response.text):
            self.client.get(url, name="GET /faces/[id]/crop.jpg")


class Uploader(HttpUser):
    fixed_count = CONFIG["uploaders"]
    wait_time = between(1, 3)

    def on_start(self):
        token = CONFIG["tokens"][random.randrange(len(CONFIG["tokens"]))]  # noqa: S311
        self.client.headers["Authorization"] = f"Token {token}"

    @task
    def upload(self):
        self.client.post("/api/v1/photos/", files={"file": ("p.jpg", unique_photo(), "image/jpeg")},
                         data={"purpose": "identify"}, name="POST /api/v1/photos/")

    @task
    def identify(self):
        started = time.perf_counter()
        with self.client.post("/api/v1/identify/", files={"file": ("p.jpg", unique_photo(), "image/jpeg")},
                              name="POST /api/v1/identify/", catch_response=True) as response:
            if response.status_code not in (200, 202):
                response.failure(f"HTTP {response.status_code}")
                return
            body = response.json()
        deadline = started + CONFIG["identify_timeout_s"]
        while body.get("status") not in ("done", "failed") and time.perf_counter() < deadline:
            time.sleep(1.0)
            body = self.client.get(f"/api/v1/photos/{body['id']}/",
                                   name="GET /api/v1/photos/[id]/ (poll)").json()
        done = body.get("status") in ("done", "failed")
        events.request.fire(request_type="FLOW", name="identify: upload until done", response_length=0,
                            response_time=(time.perf_counter() - started) * 1000.0, context={},
                            exception=None if done else RuntimeError("not processed in time"))


class HealthProbe(HttpUser):
    fixed_count = 1
    wait_time = constant(1.0)

    @task
    def healthz(self):
        with self.client.get("/healthz", name="GET /healthz", catch_response=True) as response:
            if response.status_code in (200, 503):
                response.success()  # the figure is its latency; 503 says a part is down, not an error
