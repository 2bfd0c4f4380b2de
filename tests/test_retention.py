"""Retention: the scheduled task purges faces and people past their dates, and nothing else."""

from __future__ import annotations

import io
import json
from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from helpers import consent_for

from faceweb.celery import app
from recognition import tasks
from recognition.audit import verify_chain
from recognition.models import AccessEvent, Consent, ErasureReceipt, Face, Person, Photo, RetentionPolicy
from recognition.models import private_storage as storage
from recognition.services import erasure


def age(photo: Photo, days: int) -> None:
    """Make a photo and its faces look ``days`` old."""
    then = timezone.now() - timedelta(days=days)
    Photo.objects.filter(pk=photo.pk).update(created_at=then)
    Face.objects.filter(photo=photo).update(created_at=then)


def test_the_scheduled_task_purges_what_is_past_its_date_and_nothing_else(make_user, face_photo, ingest):
    assert settings.CELERY_BEAT_SCHEDULE["apply-retention"]["task"] == tasks.apply_retention.name
    assert tasks.apply_retention.name in app.tasks
    policy = RetentionPolicy.current()
    assert (policy.unknown_face_days, policy.inactive_person_days) == (30, 3 * 365)

    alice, carol, dave, erin = (make_user(n, "uploader") for n in ("alice", "carol", "dave", "erin"))
    for user in (alice, carol, dave, erin):
        consent_for(user, "enrol", "identify")
    kept_enrol = ingest(alice, face_photo("obama.jpg"), "enrol")
    carol_photo = ingest(carol, face_photo("biden.jpg"), "enrol")
    ingest(dave, face_photo("obama2.jpg"), "enrol")
    ingest(erin, face_photo("obama3.jpg"), "enrol")
    people = {u.username: Person.objects.get(user=u) for u in (alice, carol, dave, erin)}
    # carol: her consent expired; dave: no interaction for more than three years; erin withdrew
    # (and the worker's erasure was lost): all three are past their date.
    Consent.objects.filter(person=people["carol"]).update(expires_at=timezone.now() - timedelta(days=1))
    Person.objects.filter(pk=people["dave"].pk).update(
        last_interaction_at=timezone.now() - timedelta(days=3 * 365 + 1))
    Consent.objects.filter(person=people["erin"]).update(withdrawn_at=timezone.now())

    old_unknown = ingest(alice, face_photo("kit_with_rose.jpg"), "identify")  # nobody enrolled: unknown
    age(old_unknown, 31)
    recent_unknown = ingest(alice, face_photo("obama_and_biden.jpg"), "identify")
    age(recent_unknown, 29)
    recent_faces = set(Face.objects.filter(photo=recent_unknown).values_list("pk", flat=True))
    assert recent_faces
    mixed = ingest(alice, face_photo("two_people.jpg"), "identify")  # Obama (alice) and Biden (carol)
    age(mixed, 40)
    known_face = Face.objects.filter(photo=mixed).order_by("-quality").first()
    Face.objects.filter(pk=known_face.pk).update(person=people["alice"])  # a reviewer confirmed one face
    old_file = old_unknown.file.name
    alice_faces = set(Face.objects.filter(person=people["alice"]).values_list("pk", flat=True))

    stdout = io.StringIO()
    call_command("purge", "--dry-run", stdout=stdout, stderr=io.StringIO())
    preview = json.loads(stdout.getvalue())
    assert sorted(preview["people_consent_ended"]) == sorted([people["carol"].pk, people["erin"].pk])
    assert preview["people_inactive"] == [people["dave"].pk]
    assert Person.objects.filter(erased_at__isnull=False).count() == 0  # a dry run changes nothing

    report = tasks.apply_retention.apply().get()  # the task Celery beat runs

    assert sorted(report["people_consent_ended"]) == sorted([people["carol"].pk, people["erin"].pk])
    assert report["people_inactive"] == [people["dave"].pk]
    for name in ("carol", "dave", "erin"):
        person = Person.objects.get(pk=people[name].pk)
        assert person.erased_at and person.display_name == person.pseudonym, name
        assert not Face.objects.filter(person=person).exists()
        assert ErasureReceipt.objects.get(person_ref=person.pseudonym).reason.startswith("retention:")
    assert not Photo.objects.filter(pk=carol_photo.pk).exists()
    # The old unknown faces and the old identify photo with no known face are gone, with its file.
    assert not Photo.objects.filter(pk=old_unknown.pk).exists() and not storage().exists(old_file)
    # Nothing else: alice, her enrolment, the recent unknown faces, the known face in an old photo.
    assert Person.objects.get(pk=people["alice"].pk).erased_at is None
    assert Photo.objects.filter(pk__in=[kept_enrol.pk, recent_unknown.pk, mixed.pk]).count() == 3
    assert set(Face.objects.filter(person=people["alice"]).values_list("pk", flat=True)) == alice_faces
    assert set(Face.objects.filter(photo=recent_unknown).values_list("pk", flat=True)) == recent_faces
    assert list(Face.objects.filter(photo=mixed).values_list("pk", flat=True)) == [known_face.pk]

    unknown_receipt = ErasureReceipt.objects.get(person_ref="retention:unknown-faces")
    assert unknown_receipt.counts["photos"] == 1 and unknown_receipt.counts["faces"] >= 2
    assert all(erasure.verify_receipt(r).ok for r in ErasureReceipt.objects.all())
    assert AccessEvent.objects.filter(action="person.erase", actor__isnull=True).count() == 3
    assert AccessEvent.objects.filter(action="retention.purge_unknown").count() == 1
    assert AccessEvent.objects.filter(action="retention.run").count() == 1
    assert verify_chain().ok

    # Running again purges nothing more.
    again = tasks.apply_retention.apply().get()
    assert again["receipts"] == [] and again["unknown_faces"] == 0
    assert ErasureReceipt.objects.count() == 4


def test_the_policy_page_is_public_to_signed_in_users_and_set_by_operators(client, make_user):
    assert client.get(reverse("retention-policy")).status_code == 302
    client.force_login(make_user("ursula", "uploader"))
    page = client.get(reverse("retention-policy"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "30 days" in text and "1095 days" in text and "three years" in text
    assert 'name="unknown_face_days"' not in text
    assert client.post(reverse("retention-policy"), {"unknown_face_days": 1,
                                                     "inactive_person_days": 1}).status_code == 403

    client.force_login(make_user("oscar", "operator"))
    assert 'name="unknown_face_days"' in client.get(reverse("retention-policy")).content.decode()
    too_long = client.post(reverse("retention-policy"),
                           {"unknown_face_days": 10, "inactive_person_days": 2000})
    assert too_long.status_code == 400 and b"three years" in too_long.content
    bad = client.post(reverse("retention-policy"), {"unknown_face_days": "ten", "inactive_person_days": 10})
    assert bad.status_code == 400
    ok = client.post(reverse("retention-policy"), {"unknown_face_days": 14, "inactive_person_days": 730})
    assert ok.status_code == 302
    policy = RetentionPolicy.current()
    assert (policy.unknown_face_days, policy.inactive_person_days, policy.updated_by) == (14, 730, "oscar")
    assert AccessEvent.objects.get(action="retention.policy").detail["after"]["unknown_face_days"] == 14
    assert "14 days" in client.get(reverse("retention-policy")).content.decode()
