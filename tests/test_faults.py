"""Faults while photos are in flight: every accepted photo ends processed exactly once.

One scenario against a throwaway PostgreSQL and Redis (never the shared test services),
with real processes: gunicorn, Celery workers, ``manage.py``. While photos are queued
and being processed, a worker is killed with SIGKILL, Redis is restarted, PostgreSQL is
restarted. Then: every photo is done, with the faces its picture has, written once (the
faces of a finished photo keep their ids), one ``photo.process`` entry per photo in an
intact access log, and the web server answers ``/healthz`` with 200 again and accepts a
new upload, with nobody restarting it. A periodic sweep is what beat would send: the
``sweep_stuck_photos`` task, through the broker.
"""

from __future__ import annotations

import json
import signal

import pytest
from helpers import ARTIFACTS, FACES, throwaway_stack

from bench.stack import Stack, WebClient, http_get, wait_until

FAULT_LOGS = ARTIFACTS / "faults"
# Faces in each fixture photo (labels.csv / SUBSET.txt; obama_and_biden has a third person).
FACE_COUNTS = {"obama.jpg": 1, "obama2.jpg": 1, "obama3.jpg": 1, "biden.jpg": 1, "two_people.jpg": 2,
               "obama_small.jpg": 1, "kit_with_rose.jpg": 2, "obama_and_biden.jpg": 3}
STUCK_AFTER_S = 20
PASSWORD = "fault-test-password"

SETUP = """
from pathlib import Path
from django.contrib.auth.models import Group, User
from recognition.models import Consent
from recognition.services.consent import give_consent, person_for_user
from recognition.services.photos import upload_photo

for name in ("ana", "ben"):
    user = User.objects.create_user(name, password={password!r})
    user.groups.add(Group.objects.get(name="uploader"))
    give_consent(person=person_for_user(user), purposes={{"enrol", "identify"}}, method=Consent.Method.WEB,
                 given_by=user)
ana = User.objects.get(username="ana")
result = []
for name, purpose in {uploads!r}:
    data = Path({faces!r}, name).read_bytes()
    result.append(upload_photo(uploader=ana, file=data, purpose=purpose, filename=name).photo.pk)
"""

VERIFY_CHAIN = """
from recognition.audit import verify_chain
report = verify_chain()
result = {"ok": report.ok, "checked": report.checked, "reason": report.reason}
"""


@pytest.fixture
def stack(settings):
    """A throwaway stack (its own PostgreSQL, Redis, workers, web); every process's output kept."""
    with throwaway_stack("faults", settings.MODEL_CACHE_DIR,
                         {"STUCK_PHOTO_AFTER_S": str(STUCK_AFTER_S), "FACEWEB_TF_THREADS": "1"},
                         keep_logs=FAULT_LOGS) as stack:
        yield stack


def photos(stack: Stack) -> dict[int, tuple[str, str, int]]:
    """id -> (original name, status, attempts) of every photo."""
    return {pk: (name, status, attempts) for pk, name, status, attempts in
            stack.sql("SELECT id, original_name, status, attempts FROM recognition_photo")}


def statuses(stack: Stack, status: str) -> list[int]:
    return sorted(pk for pk, (_, s, _) in photos(stack).items() if s == status)


def faces_of_done_photos(stack: Stack) -> set[tuple]:
    return set(stack.sql("SELECT f.id, f.photo_id, f.index, f.created_at FROM recognition_face f "
                         "JOIN recognition_photo p ON p.id = f.photo_id WHERE p.status = 'done'"))


def send_sweep(stack: Stack) -> None:
    """What beat sends every minute: the sweep task, through the broker."""
    from celery import Celery

    beat = Celery("beat", broker=stack.redis_url)
    try:
        beat.send_task("recognition.tasks.sweep_stuck_photos")
    finally:
        beat.close()


def healthy(base: str) -> dict | None:
    status, body = http_get(f"{base}/healthz", timeout=15)
    return json.loads(body) if status == 200 else None


def kill_worker_mid_photo(stack: Stack, name: str) -> list[int]:
    """Start a worker, SIGKILL all its processes while it is processing a photo; that photo's id.

    The kill lands between two SQL polls' worth of time of a photo finishing at worst; then
    no photo is left "processing" and a next worker is started and killed the same way.
    """
    for attempt in range(3):
        worker = stack.start_worker(f"{name}{attempt}")
        wait_until(lambda: len(statuses(stack, "done")) >= 2 and statuses(stack, "processing"), timeout=150,
                   every=0.05, what="the first worker to finish two photos and start a third",
                   on_timeout=lambda w=worker: w.log(3000))
        worker.kill_group(signal.SIGKILL)
        worker.popen.wait(timeout=30)
        stuck = statuses(stack, "processing")
        if stuck:
            return stuck
    raise AssertionError("three workers were killed and none of them in the middle of a photo")


@pytest.mark.slow
def test_photos_in_flight_survive_a_killed_worker_and_restarts_of_redis_and_postgres(stack):
    stack.manage("migrate", "--noinput", "--skip-checks")
    web, base = stack.start_web()

    # Ana enrols herself and sends seven photos to identify; they queue up behind each other.
    uploads = [("obama.jpg", "enrol")] + [(name, "identify") for name in FACE_COUNTS if name != "obama.jpg"]
    first_batch = stack.django(SETUP.format(password=PASSWORD, uploads=uploads, faces=str(FACES)))
    assert len(first_batch) == 8

    # 1. A worker dies (SIGKILL, no chance to clean up) in the middle of a photo.
    killed = kill_worker_mid_photo(stack, "doomed")
    finished_before_kill = faces_of_done_photos(stack)
    assert finished_before_kill

    # 2. Its replacement starts on the rest; Redis stops while it holds a photo. An upload
    # meanwhile is accepted (it is stored; queueing it fails and is left to the sweep).
    replacement = stack.start_worker("replacement")
    replacement.wait_for_log(r"process_photo\[[^\]]+\] received", timeout=60)
    ben = WebClient(base)
    ben.login("ben", PASSWORD)
    stack.stop_redis()
    response = ben.upload([FACES / "obama.jpg"], "enrol")
    assert response.status_code == 302, response.text[:2000]
    assert len(photos(stack)) == 9
    stack.start_redis()
    assert wait_until(lambda: healthy(base), timeout=90, every=1, what="/healthz 200 after the redis restart")

    # 3. Ben uploads through the web server that lived through the Redis restart.
    response = ben.upload([FACES / name for name in FACE_COUNTS], "identify")
    assert response.status_code == 302, response.text[:2000]
    assert len(photos(stack)) == 17

    # 4. PostgreSQL restarts (every connection cut) while the worker is on one of Ben's photos.
    wait_until(lambda: statuses(stack, "processing"), timeout=120, every=0.05,
               what="a photo being processed after the upload", on_timeout=lambda: replacement.log(3000))
    stack.restart_postgres()

    # Beat's sweep re-queues the photo the killed worker held once it has been stuck long enough.
    def all_final() -> bool:
        current = photos(stack)
        if all(status in ("done", "failed") for _, status, _ in current.values()):
            return True
        send_sweep(stack)
        return False

    wait_until(all_final, timeout=240, every=5, what="every photo to be processed",
               on_timeout=lambda: f"photos: {photos(stack)}")

    # The service answers again, without anyone restarting the web server or the worker.
    health = wait_until(lambda: healthy(base), timeout=90, every=1, what="/healthz 200 after the restarts")
    assert [name.split("@")[0] for name in health["worker"]["workers"]] == ["replacement"]

    # Every accepted photo was processed, with exactly the faces its picture has.
    final = photos(stack)
    assert len(final) == 17
    assert {pk: status for pk, (_, status, _) in final.items()} == dict.fromkeys(final, "done")
    counts = dict(stack.sql("SELECT p.id, count(f.id) FROM recognition_photo p "
                            "LEFT JOIN recognition_face f ON f.photo_id = p.id GROUP BY p.id"))
    assert counts == {pk: FACE_COUNTS[name] for pk, (name, _, _) in final.items()}
    indexes = stack.sql("SELECT photo_id, array_agg(index ORDER BY index) FROM recognition_face "
                        "GROUP BY photo_id")
    assert all(idx == list(range(len(idx))) for _, idx in indexes)

    # ... written once: faces of photos finished before the faults are the same rows.
    assert finished_before_kill <= faces_of_done_photos(stack)
    # ... the killed photo was taken up again, and it shows in its attempts.
    assert all(final[pk][2] >= 2 for pk in killed), {pk: final[pk] for pk in killed}
    # ... and recorded once: one photo.process entry per photo, in an access log still intact.
    processed = dict(stack.sql("SELECT object_id, count(*) FROM recognition_accessevent "
                               "WHERE action = 'photo.process' GROUP BY object_id"))
    assert processed == {str(pk): 1 for pk in final}
    chain = stack.django(VERIFY_CHAIN)
    assert chain["ok"], chain

    # The proposals are whole too: Ben's obama photo is proposed as Ana (and as himself when his
    # enrolment was done first), each candidate once.
    candidates = [name for (name,) in stack.sql(
        "SELECT cu.username FROM recognition_identification i JOIN recognition_face f ON f.id = i.face_id "
        "JOIN recognition_photo p ON p.id = f.photo_id JOIN auth_user u ON u.id = p.uploader_id "
        "JOIN recognition_person c ON c.id = i.candidate_id JOIN auth_user cu ON cu.id = c.user_id "
        "WHERE u.username = 'ben' AND p.purpose = 'identify' AND p.original_name = 'obama.jpg'")]
    assert "ana" in candidates and len(candidates) == len(set(candidates)), candidates

    # And a new upload goes all the way through, as if nothing had happened.
    ana = WebClient(base)
    ana.login("ana", PASSWORD)
    assert ana.upload([FACES / "obama.jpg"], "identify").status_code == 302
    wait_until(lambda: statuses(stack, "done") == sorted(photos(stack)) and len(photos(stack)) == 18,
               timeout=120, every=0.5, what="the upload after the faults to be processed")
    assert web.alive() and replacement.alive()
