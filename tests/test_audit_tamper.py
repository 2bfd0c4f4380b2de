"""The access log against the people who would rewrite it: each test is the attack it stops.

The attacker holds the database owner's rights (can disable the trigger, delete, update and
recompute hashes with the project's own functions) but not the audit keys from the server's
environment; or holds an export file and edits it; or holds the web app's database role.
"""

from __future__ import annotations

import base64
import io
import json
import threading

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from helpers import APP_ROLE, ensure_app_role
from psycopg import sql

from recognition import auditkeys, checkpoints, dbroles
from recognition.audit import GENESIS_HASH, entry_hash, log_access, verify_chain
from recognition.models import AccessEvent
from recognition.services import audit_export


def _as_owner(*statements: tuple[str, list]) -> None:
    """What the owner can do: switch the append-only trigger off, edit, switch it back on."""
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE recognition_accessevent DISABLE TRIGGER USER")
        for statement, params in statements:
            cur.execute(statement, params)
        cur.execute("ALTER TABLE recognition_accessevent ENABLE TRIGGER USER")


def _rehash_from(first_id: int) -> None:
    """Recompute every hash from ``first_id`` on with the project's own functions, so the plain chain
    holds again (the attacker copies the MAC column as it was: they cannot compute a new one)."""
    prev = (AccessEvent.objects.filter(id__lt=first_id).order_by("-id").values_list("hash", flat=True).first()
            or GENESIS_HASH)
    for event in AccessEvent.objects.filter(id__gte=first_id).order_by("id"):
        event.prev_hash = prev
        event.hash = entry_hash(event)
        _as_owner(("UPDATE recognition_accessevent SET prev_hash = %s, hash = %s WHERE id = %s",
                   [event.prev_hash, event.hash, event.id]))
        prev = event.hash


def _log(n: int) -> list[AccessEvent]:
    return [log_access(action="test.event", object_type="thing", object_id=i, detail={"n": i})
            for i in range(n)]


def test_an_owner_who_deletes_a_middle_entry_and_rehashes_the_rest_is_caught(db):
    events = _log(6)
    assert verify_chain().ok
    _as_owner(("DELETE FROM recognition_accessevent WHERE id = %s", [events[2].id]))
    _rehash_from(events[3].id)
    # The plain hash chain holds again: only the key can tell.
    walker_free = [e for e in AccessEvent.objects.order_by("id")]
    assert all(e.hash == entry_hash(e) for e in walker_free)
    report = verify_chain()
    assert not report.ok
    assert report.first_broken_id == events[3].id and "HMAC" in report.reason
    with pytest.raises(CommandError, match=f"BROKEN at entry {events[3].id}"):
        call_command("verify_audit", stdout=io.StringIO())


def test_an_owner_who_strips_the_hmacs_to_pass_as_old_entries_is_caught(db):
    events = _log(4)
    _as_owner(("DELETE FROM recognition_accessevent WHERE id = %s", [events[1].id]),
              ("UPDATE recognition_accessevent SET mac = '', key_id = '' WHERE id > %s", [events[1].id]))
    _rehash_from(events[2].id)
    report = verify_chain()
    assert not report.ok and report.first_broken_id == events[2].id


def test_an_owner_who_rewrites_everything_without_keys_is_caught_by_the_checkpoint(db):
    events = _log(5)
    assert checkpoints.write_checkpoint() is not None
    # Delete one entry, strip every HMAC, rehash from the start: an "unkeyed legacy" log that chains.
    _as_owner(("DELETE FROM recognition_accessevent WHERE id = %s", [events[1].id]),
              ("UPDATE recognition_accessevent SET mac = '', key_id = ''", []))
    _rehash_from(events[0].id)
    report = verify_chain()
    assert not report.ok and "checkpoint" in report.reason


def test_deleting_the_newest_entries_is_caught_by_the_checkpoint(db):
    events = _log(5)
    checkpoint = checkpoints.write_checkpoint()
    assert checkpoint.payload["head_id"] == events[-1].id and checkpoint.payload["count"] == 5
    assert verify_chain().ok
    # Tail deletion: no rehash needed, every remaining entry is untouched.
    _as_owner(("DELETE FROM recognition_accessevent WHERE id >= %s", [events[3].id]))
    report = verify_chain()
    assert not report.ok and "truncated" in report.reason and report.first_broken_id == events[-1].id
    # Nor can the chain simply carry on: new entries after the cut do not restore the sealed head.
    log_access(action="test.after_cut")
    assert not verify_chain().ok


def test_a_checkpoint_never_seals_a_tampered_chain(db):
    events = _log(3)
    checkpoints.write_checkpoint()
    more = _log(3)
    _as_owner(("UPDATE recognition_accessevent SET object_type = 'x' WHERE id = %s", [more[1].id]))
    with pytest.raises(checkpoints.CheckpointRefused, match=str(more[1].id)):
        checkpoints.write_checkpoint()
    assert events


def test_a_forged_checkpoint_file_is_rejected(db, settings):
    _log(2)
    cp = checkpoints.write_checkpoint()
    path = checkpoints.checkpoint_dir() / cp.name
    document = json.loads(path.read_text())
    document["payload"]["count"] = 1
    path.write_text(json.dumps(document))
    report = verify_chain()
    assert not report.ok and "signature" in report.reason


def test_verify_audit_on_an_untampered_log_says_ok_and_what_it_checked(db):
    _log(4)
    cp = checkpoints.write_checkpoint()
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    text = out.getvalue()
    fingerprint, _ = auditkeys.current_hmac()
    assert "OK, the chain is intact" in text and "4 entries" in text and "4 HMACs" in text
    assert fingerprint in text and auditkeys.signing_key().fingerprint in text
    assert f"at entry {cp.payload['head_id']}" in text
    assert cp.payload["hmac_keys"] == [fingerprint]


# ------------------------------------------------------------------------------------- exports

@pytest.fixture
def exported(db):
    _log(8)
    checkpoints.write_checkpoint()
    _log(2)  # after the checkpoint: covered by the trailer and the server's walk

    def export(fmt: str = "jsonl", **filters) -> list[str]:
        f = audit_export.parse_filter(filters)
        return "".join(audit_export.start_export(f=f, fmt=fmt, via="test")).splitlines(keepends=True)

    return export


def _check(lines: list[str], fmt: str = "jsonl", **kwargs):
    return audit_export.check_export_file(io.StringIO("".join(lines)), fmt, **kwargs)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("filtered", [False, True])
def test_an_edited_export_is_detected(exported, fmt, filtered):
    lines = exported(fmt, **({"action": "test.event"} if filtered else {}))
    body = 2 if fmt == "csv" else 1  # header line (+ the CSV column names)
    entries = lines[body:-1]
    assert len(entries) == 10
    ok = _check(lines, fmt)
    assert ok.ok, ok
    assert ok.checkpoint is not None and ok.filtered == filtered
    attacks = {
        "deleted line": lines[:body + 4] + lines[body + 5:],
        "reordered lines": lines[:body + 3] + [lines[body + 4], lines[body + 3]] + lines[body + 5:],
        "duplicated line": lines[:body + 4] + [lines[body + 4]] + lines[body + 4:],
        "truncated (end cut off)": lines[:-3],
        "truncated mid-line": lines[:-2] + [lines[-2][:20]],
        "last entries removed, trailer kept": lines[:-3] + lines[-1:],
        "first entry removed": lines[:body] + lines[body + 1:],
        "header removed": lines[1:],
    }
    for name, tampered in attacks.items():
        report = _check(tampered, fmt)
        assert not report.ok, name


def test_an_edited_trailer_fails_its_signature(exported):
    lines = exported()
    trailer = json.loads(lines[-1])
    trailer["trailer"]["payload"]["count"] -= 1
    report = _check(lines[:-2] + [json.dumps(trailer) + "\n"])
    assert not report.ok and "signature" in report.reason


def test_an_export_verifies_offline_with_the_public_key_only(exported, tmp_path):
    lines = exported()
    path = tmp_path / "log.jsonl"
    path.write_text("".join(lines))
    public = auditkeys.signing_key().public_b64
    out = io.StringIO()
    call_command("verify_audit", "--file", str(path), "--public-key", public, stdout=out)
    assert "OK: 10 entries" in out.getvalue() and "covering checkpoint" in out.getvalue()
    # Another key (a forger's, or the wrong server's) is not trusted.
    other = base64.b64encode(auditkeys.Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    with pytest.raises(CommandError, match="not a key you trust"):
        call_command("verify_audit", "--file", str(path), "--public-key", other)


def test_an_export_made_from_a_rewritten_log_says_so(exported):
    events = list(AccessEvent.objects.order_by("id"))
    _as_owner(("DELETE FROM recognition_accessevent WHERE id = %s", [events[3].id]))
    _rehash_from(events[4].id)
    lines = exported("jsonl", action="test.event")  # even a filtered export walks the whole chain
    report = _check(lines)
    assert not report.ok and "broken" in report.reason


# --------------------------------------------------------------------------- chaining at commit

def test_a_slow_transaction_does_not_hold_other_log_writers_back(transactional_db):
    """The chain lock is taken at commit: a transaction that logged and is still working does not
    block another writer (before, the lock was held from the first log_access to the commit)."""
    logged, release, other_done = threading.Event(), threading.Event(), threading.Event()

    def slow():
        try:
            with transaction.atomic():
                log_access(action="test.slow")
                logged.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        assert logged.wait(30)

        def fast():
            try:
                with transaction.atomic():
                    log_access(action="test.fast")
                other_done.set()
            finally:
                connection.close()

        other = threading.Thread(target=fast)
        other.start()
        assert other_done.wait(10), "a writer waited for another transaction's unrelated work"
        other.join()
    finally:
        release.set()
        thread.join()
    actions = list(AccessEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["test.fast", "test.slow"]
    assert verify_chain().ok


def test_an_entry_whose_transaction_rolls_back_is_never_written(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        log_access(action="test.rolled_back")
        raise RuntimeError
    with transaction.atomic():
        log_access(action="test.kept")
        try:
            with transaction.atomic():
                log_access(action="test.inner_rolled_back")
                raise ValueError
        except ValueError:
            pass
    assert list(AccessEvent.objects.values_list("action", flat=True)) == ["test.kept"]
    assert verify_chain().ok


# ------------------------------------------------------------------------------------- roles

@pytest.fixture
def app_role_connection(transactional_db):
    ensure_app_role()
    params = {k: v for k, v in connection.get_connection_params().items()
              if k in ("dbname", "host", "port")}
    conn = psycopg.connect(**params, user=APP_ROLE, autocommit=True)
    yield conn
    conn.close()


def test_the_app_role_can_append_but_never_rewrite_the_log(app_role_connection):
    with transaction.atomic():
        event = log_access(action="test.event")
    cur = app_role_connection.cursor()
    cur.execute("SELECT current_user, count(*) FROM recognition_accessevent")
    assert cur.fetchone() == (APP_ROLE, 1)
    attacks = [
        ("UPDATE", "UPDATE recognition_accessevent SET action = 'x'"),
        ("DELETE", "DELETE FROM recognition_accessevent"),
        ("TRUNCATE", "TRUNCATE recognition_accessevent"),
        ("ALTER", "ALTER TABLE recognition_accessevent ADD COLUMN note text"),
        ("DISABLE TRIGGER", "ALTER TABLE recognition_accessevent DISABLE TRIGGER USER"),
        ("DROP TRIGGER", "DROP TRIGGER recognition_accessevent_no_update_delete ON recognition_accessevent"),
    ]
    for name, statement in attacks:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute(statement)
            pytest.fail(f"the app role could {name} the log")
    # Granting itself UPDATE grants nothing (PostgreSQL warns, and the privilege stays absent).
    cur.execute(sql.SQL("GRANT UPDATE ON recognition_accessevent TO {}").format(sql.Identifier(APP_ROLE)))
    cur.execute("SELECT has_table_privilege(current_user, 'recognition_accessevent', 'UPDATE')")
    assert cur.fetchone() == (False,)
    assert AccessEvent.objects.get(pk=event.id).action == "test.event"
    # What it is for: it may still append, and use the other tables.
    cur.execute("SELECT count(*) FROM recognition_person")


def test_an_app_role_that_owns_the_log_is_refused(transactional_db):
    ensure_app_role()
    with pytest.raises(dbroles.RoleError, match="superuser|owns"):
        dbroles.grant_app_role(connection, connection.get_connection_params()["user"])


def test_an_auditor_uploads_an_export_and_a_cut_one_is_refused(client, make_user, exported):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    lines = exported("csv", action="test.event")
    client.force_login(make_user("audrey", "auditor"))
    page = client.get(reverse("audit-verify"))
    assert auditkeys.signing_key().public_b64 in page.content.decode()
    assert page.context["checkpoints"] and page.context["checkpoints"][0].valid

    def upload(name: str, data: bytes):
        return client.post(reverse("audit-verify"), {"export": SimpleUploadedFile(name, data)})

    good = upload("log.csv", "".join(lines).encode())
    assert good.status_code == 200 and b"complete and unaltered" in good.content
    cut = upload("log.csv", "".join(lines[:-4]).encode())
    assert cut.status_code == 409 and b"cut short" in cut.content
    binary = upload("log.jsonl", b"\xff\xfe\x00")
    assert binary.status_code == 409
    assert AccessEvent.objects.filter(action="audit.verify", actor_name="audrey").count() == 3
    key = client.get(reverse("audit-public-key"))
    assert key.content.decode().strip() == auditkeys.signing_key().public_b64
    client.force_login(make_user("oscar", "operator"))
    assert client.get(reverse("audit-public-key")).status_code == 403


def test_hmac_key_rotation_and_a_lost_key_follow_the_documented_procedure(db, settings):
    old_key = settings.AUDIT_HMAC_KEY
    old_fp = auditkeys.hmac_fingerprint(old_key)
    _log(2)
    checkpoints.write_checkpoint()
    # Rotation: a new key in use, the old one kept for verification.
    settings.AUDIT_HMAC_KEY = "a-new-audit-hmac-key-after-rotation-0123456789"
    settings.AUDIT_HMAC_OLD_KEYS = [old_key]
    _log(2)
    cp = checkpoints.write_checkpoint()
    assert cp.payload["hmac_keys"] == [auditkeys.hmac_fingerprint(settings.AUDIT_HMAC_KEY), old_fp]
    report = verify_chain()
    assert report.ok and report.macs_checked == 4 and len(report.hmac_keys) == 2
    # The old key is gone without being declared lost: its entries do not verify.
    settings.AUDIT_HMAC_OLD_KEYS = []
    report = verify_chain()
    assert not report.ok and old_fp in report.reason
    # Declared lost: its entries are counted apart, still covered by the plain chain and the checkpoints.
    settings.AUDIT_HMAC_LOST_FINGERPRINTS = [old_fp]
    report = verify_chain()
    assert report.ok and report.lost_key_entries == 2 and report.macs_checked == 2
    assert "under lost keys" in report.summary() and report.checkpoints_checked == 2
