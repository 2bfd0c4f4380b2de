"""The access log: one event per access, append-only in the database, tamper-evident, exported and checked."""

from __future__ import annotations

import csv
import io
import json
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from helpers import consent_for

from recognition.audit import log_access, verify_chain
from recognition.models import AccessEvent, Face, Identification, Person
from recognition.services import audit_export

PASSWORD = "pw-for-tests-only"


def new_events(since_id: int) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(id__gt=since_id).order_by("id"))


def last_id() -> int:
    return AccessEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


class Recorder:
    """Collects, for each access path, the events it wrote."""

    def __init__(self):
        self.paths: dict[str, list[AccessEvent]] = {}

    def run(self, name: str, fn):
        start = last_id()
        result = fn()
        self.paths[name] = new_events(start)
        return result


def test_each_access_path_writes_exactly_one_event(client, make_user, face_photo, ingest):
    alice = make_user("alice", "uploader")
    bob = make_user("bob", "uploader")
    reviewer = make_user("rita", "reviewer")
    auditor = make_user("audrey", "auditor")
    operator = make_user("oscar", "operator")
    rec = Recorder()

    consent = rec.run("consent given", lambda: consent_for(alice, "enrol", "identify"))
    consent_for(bob, "identify")
    enrol = rec.run("upload + processing (enrol)",
                    lambda: ingest(alice, face_photo("obama.jpg"), "enrol"))
    probe = rec.run("upload + processing (identify)",
                    lambda: ingest(bob, face_photo("obama2.jpg"), "identify"))
    alice_person = Person.objects.get(user=alice)
    enrolled_face = Face.objects.get(photo=enrol)
    probe_face = Face.objects.get(photo=probe)
    proposal = Identification.objects.get(face=probe_face)

    client.force_login(alice)
    rec.run("photo viewed", lambda: client.get(reverse("photo-image", args=[enrol.pk])))
    rec.run("face crop viewed", lambda: client.get(reverse("face-crop", args=[enrolled_face.pk])))
    client.logout()

    from recognition.services import review

    rec.run("identification decided", lambda: review.confirm(identification=proposal, reviewer=reviewer))
    rec.run("sign-in", lambda: client.post(reverse("login"), {"username": "audrey", "password": PASSWORD}))
    rec.run("export", lambda: b"".join(
        client.get(reverse("audit-export"), {"format": "jsonl"}).streaming_content))
    rec.run("sign-out", lambda: client.post(reverse("logout")))
    rec.run("failed sign-in",
            lambda: client.post(reverse("login"), {"username": "audrey", "password": "wrong"}))
    client.force_login(alice)
    rec.run("consent withdrawn", lambda: client.post(reverse("consent-withdraw", args=[consent.pk])))
    client.force_login(operator)
    rec.run("erasure", lambda: client.post(reverse("erasure"), {
        "person_id": alice_person.pk, "reason": "request 42", "confirm": "yes"}))

    ref = alice_person.pseudonym
    expected = {
        # path: [(action, actor username or "system", object type, object id, person pseudonym)]
        "consent given": [("consent.give", "alice", "consent", consent.pk, ref)],
        "upload + processing (enrol)": [("photo.upload", "alice", "photo", enrol.pk, ref),
                                        ("face.enrol", "system", "face", enrolled_face.pk, ref),
                                        ("photo.process", "system", "photo", enrol.pk, ref)],
        "upload + processing (identify)": [
            # Every identify request is logged with its uploader (the quota counts these).
            ("identify.request", "bob", "", "", Person.objects.get(user=bob).pseudonym),
            ("photo.upload", "bob", "photo", probe.pk, Person.objects.get(user=bob).pseudonym),
            ("embedding.match", "system", "face", probe_face.pk, ref),
            ("photo.process", "system", "photo", probe.pk, Person.objects.get(user=bob).pseudonym)],
        "photo viewed": [("photo.view", "alice", "photo", enrol.pk, ref)],
        "face crop viewed": [("face.view", "alice", "face", enrolled_face.pk, ref)],
        "identification decided": [("identification.confirm", "rita", "identification", proposal.pk, ref)],
        "sign-in": [("auth.login", "audrey", "user", auditor.pk, "")],
        "export": [("audit.export", "audrey", "accesslog", "", "")],
        "sign-out": [("auth.logout", "audrey", "user", auditor.pk, "")],
        "failed sign-in": [("auth.login_failed", "system", "user", "", "")],
        "consent withdrawn": [("consent.withdraw", "alice", "consent", consent.pk, ref)],
        "erasure": [("person.erase", "oscar", "erasurereceipt", None, ref)],
    }
    for path, wanted in expected.items():
        got = [(e.action, e.actor_name, e.object_type, e.object_id, e.person_ref) for e in rec.paths[path]]
        assert len(got) == len(wanted), (path, got)
        for (action, who, otype, oid, pref), event in zip(wanted, got, strict=True):
            assert event[:3] == (action, who, otype), path
            assert oid is None or event[3] == str(oid), (path, event)
            assert event[4] == pref, (path, event)
    assert rec.paths["failed sign-in"][0].detail == {"username": "audrey"}
    assert rec.paths["sign-in"][0].role == "auditor" and rec.paths["sign-in"][0].request_id
    assert verify_chain().ok


def test_the_database_refuses_update_and_delete_of_log_entries(db):
    event = log_access(action="test.event", object_type="thing", object_id=1)
    for statement in ("UPDATE recognition_accessevent SET action = 'x' WHERE id = %s",
                      "DELETE FROM recognition_accessevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(statement, [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=event.pk).update(purpose="changed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AccessEvent.objects.filter(pk=event.pk).delete()
    assert AccessEvent.objects.get(pk=event.pk).action == "test.event"


def _as_owner(sql: str, params=()):
    """What an attacker with the table owner's rights can do: switch the trigger off, edit, switch it on."""
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE recognition_accessevent DISABLE TRIGGER USER")
        cur.execute(sql, params)
        cur.execute("ALTER TABLE recognition_accessevent ENABLE TRIGGER USER")


def test_altering_one_byte_of_one_entry_makes_the_check_name_it(db):
    events = [log_access(action="test.event", object_type="thing", object_id=i, detail={"n": i})
              for i in range(6)]
    assert verify_chain().ok
    target = events[3]
    # One byte of one field: "thing" -> "thinf".
    _as_owner("UPDATE recognition_accessevent SET object_type = 'thinf' WHERE id = %s", [target.pk])
    report = verify_chain()
    assert not report.ok
    assert report.first_broken_id == target.pk
    assert "altered" in report.reason
    with pytest.raises(CommandError, match=f"BROKEN at entry {target.pk}"):
        call_command("verify_audit", stdout=io.StringIO())


def test_a_removed_entry_is_detected_at_the_next_one(db):
    events = [log_access(action="test.event", object_id=i) for i in range(5)]
    _as_owner("DELETE FROM recognition_accessevent WHERE id = %s", [events[2].pk])
    report = verify_chain()
    assert not report.ok and report.first_broken_id == events[3].pk


def test_two_writers_at_once_keep_one_valid_chain(transactional_db):
    per_writer, barrier, errors = 40, threading.Barrier(2), []

    def writer(name: str):
        try:
            barrier.wait()
            for i in range(per_writer):
                with transaction.atomic():  # each access in its own transaction, like a request
                    log_access(action="test.concurrent", object_type=name, object_id=i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    events = AccessEvent.objects.filter(action="test.concurrent")
    assert events.count() == 2 * per_writer
    assert set(events.values_list("object_type", flat=True)) == {"a", "b"}
    report = verify_chain()
    assert report.ok, report
    prevs = list(AccessEvent.objects.values_list("prev_hash", flat=True))
    assert len(prevs) == len(set(prevs)), "two entries claim the same predecessor: the chain forked"


@pytest.fixture
def logged(db, make_user):
    """A small log: sign-ins, accesses by two people, a failed sign-in with a formula-like name."""
    alice, bob = make_user("alice", "uploader"), make_user("bob", "uploader")
    a, b = Person.objects.create(user=alice, display_name="Alice"), Person.objects.create(user=bob,
                                                                                          display_name="Bob")
    log_access(action="photo.view", actor=alice, object_type="photo", object_id=1, person=a)
    log_access(action="face.view", actor=alice, object_type="face", object_id=2, person=a)
    log_access(action="photo.view", actor=bob, object_type="photo", object_id=3, person=b)
    log_access(action="auth.login_failed", object_type="user", detail={"username": '=HYPERLINK("x")'})
    log_access(action="test.formula", object_type="note", object_id="=1+2")
    return {"alice": alice, "bob": bob, "a": a, "b": b}


def _entries(jsonl: str) -> list[dict]:
    """The entries of a JSON Lines export (between its header and its signed trailer)."""
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert set(lines[0]) == {"header"} and set(lines[-1]) == {"trailer"}
    return lines[1:-1]


def _check(text: str, fmt: str = "jsonl"):
    return audit_export.check_export_file(io.StringIO(text), fmt)


def _export(client, fmt: str, **filters) -> str:
    response = client.get(reverse("audit-export"), {"format": fmt, **filters})
    assert response.status_code == 200, response
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8")


def test_exports_stream_every_entry_with_its_hashes_and_check_offline(client, make_user, logged):
    auditor = make_user("audrey", "auditor")
    client.force_login(auditor)
    jsonl = _export(client, "jsonl")
    entries = _entries(jsonl)
    ids = [e["id"] for e in entries]
    first = AccessEvent.objects.order_by("id").first().id
    assert ids == list(range(first, ids[-1] + 1))  # the whole log up to the export, in order
    assert ids[-1] == AccessEvent.objects.get(action="audit.export").id - 1
    assert all(len(e["hash"]) == 64 and len(e["prev_hash"]) == 64 for e in entries)
    assert _check(jsonl).ok, _check(jsonl)
    csv_text = _export(client, "csv")
    rows = list(csv.DictReader(io.StringIO("".join(csv_text.splitlines(keepends=True)[1:-1]))))
    assert list(rows[0]) == list(audit_export.EXPORT_FIELDS)
    assert [r["id"] for r in rows][: len(ids)] == [str(i) for i in ids]
    # A formula-like cell is defused for spreadsheets, and the offline check still holds.
    assert ",'=1+2," in csv_text
    assert _check(csv_text, "csv").ok

    # The exports were logged, by the auditor, with the format.
    exports = AccessEvent.objects.filter(action="audit.export").order_by("id")
    assert [(e.actor_name, e.detail["format"]) for e in exports] == [("audrey", "jsonl"), ("audrey", "csv")]

    # One changed byte in the file: the offline check names the entry.
    lines = jsonl.splitlines()
    tampered = json.loads(lines[2])
    tampered["object_id"] += "0"
    report = _check("\n".join([*lines[:2], json.dumps(tampered), *lines[3:]]) + "\n")
    assert not report.ok and report.first_broken_id == tampered["id"]


def test_export_filters_by_actor_person_action_and_time(client, make_user, logged):
    client.force_login(make_user("audrey", "auditor"))
    by_actor = _entries(_export(client, "jsonl", actor="alice"))
    assert {e["action"] for e in by_actor} == {"photo.view", "face.view"}
    by_person = _entries(_export(client, "jsonl", person=logged["b"].pseudonym))
    assert [(e["actor_name"], e["object_id"]) for e in by_person] == [("bob", "3")]
    by_id = _entries(_export(client, "jsonl", person=str(logged["b"].pk)))
    assert by_id == by_person
    prefix_text = _export(client, "jsonl", action="photo.")
    prefix = _entries(prefix_text)
    assert [e["object_id"] for e in prefix] == ["1", "3"]
    assert _entries(_export(client, "jsonl", until="2000-01-01")) == []
    today = AccessEvent.objects.first().at.date().isoformat()
    assert len(_entries(_export(client, "jsonl", since=today, until=today))) >= 5
    # Filtered exports still check offline: each hash holds, the signed trailer covers exactly them.
    assert _check(prefix_text).ok


def test_bad_export_requests_get_a_clear_4xx(client, make_user, logged):
    client.force_login(make_user("audrey", "auditor"))
    response = client.get(reverse("audit-export"), {"format": "xml"})
    assert response.status_code == 400 and b"use csv or jsonl" in response.content
    response = client.get(reverse("audit-export"), {"format": "csv", "since": "yesterday"})
    assert response.status_code == 400 and b"not a date" in response.content
    assert client.get(reverse("audit-log"), {"since": "2024-13-45"}).status_code == 400
    assert not AccessEvent.objects.filter(action="audit.export").exists()


def test_auditor_pages_show_the_log_but_never_a_face(client, make_user, logged):
    auditor = make_user("audrey", "auditor")
    client.force_login(auditor)
    page = client.get(reverse("audit-log"), {"action": "photo.view"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "photo.view" in html and "face.view" not in html.split("<tbody>")[1]
    assert "<img" not in html and "crop.jpg" not in html and "image.jpg" not in html
    assert logged["a"].pseudonym in client.get(reverse("audit-log")).content.decode()
    assert "Alice" not in client.get(reverse("audit-log")).content.decode()  # people by pseudonym only

    verify = client.post(reverse("audit-verify"))
    assert verify.status_code == 200 and b"The chain is intact" in verify.content
    assert AccessEvent.objects.filter(action="audit.verify", actor=auditor).count() == 1


def test_log_entries_hold_no_embedding(client, make_user, face_photo, ingest):
    alice = make_user("alice", "uploader")
    consent_for(alice, "enrol", "identify")
    ingest(alice, face_photo("obama.jpg"), "enrol")
    ingest(alice, face_photo("obama2.jpg"), "identify")

    def numbers(value) -> int:
        if isinstance(value, dict):
            return max((numbers(v) for v in value.values()), default=0)
        if isinstance(value, list):
            return max(len(value), *(numbers(v) for v in value)) if value else 0
        return 0

    details = list(AccessEvent.objects.values_list("detail", flat=True))
    assert details and max(numbers(d) for d in details) < 16
    assert not any("embedding" in json.dumps(d) for d in details)


def test_audit_pages_need_the_auditor_role(client, make_user):
    for name in ("audit-log", "audit-export", "audit-verify"):
        assert client.get(reverse(name)).status_code == 302, name  # to the login page
    for role in ("uploader", "reviewer", "operator"):
        client.force_login(make_user(f"user-{role}", role))
        for name in ("audit-log", "audit-export", "audit-verify"):
            assert client.get(reverse(name)).status_code == 403, (role, name)


def test_commands_export_and_check_the_log_offline(tmp_path, logged):
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"log.{fmt}"
        stderr = io.StringIO()
        call_command("export_audit", "--format", fmt, "--output", str(out), "--action", "photo.",
                     stderr=stderr)
        assert "2 entries written" in stderr.getvalue()
        assert out.read_text().count("photo.view") == 2
        stdout = io.StringIO()
        call_command("verify_audit", "--file", str(out), stdout=stdout)
        assert "OK: 2 entries" in stdout.getvalue()
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    first = json.loads(lines[1])
    first["purpose"] += "!"
    (tmp_path / "bad.jsonl").write_text("\n".join([lines[0], json.dumps(first), *lines[2:]]) + "\n")
    with pytest.raises(CommandError, match=f"BROKEN at entry {first['id']}"):
        call_command("verify_audit", "--file", str(tmp_path / "bad.jsonl"))
    stdout = io.StringIO()
    call_command("verify_audit", stdout=stdout)
    assert "the chain is intact" in stdout.getvalue()
    assert AccessEvent.objects.filter(action="audit.export", actor_name="system").count() == 2
    assert AccessEvent.objects.filter(action="audit.verify").count() == 1
