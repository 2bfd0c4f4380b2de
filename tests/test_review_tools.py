"""Reviewer tools: undo, typed names, merge candidates, unassigned faces, human-only statistics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from test_review import make_person, probe_face, propose, status_of

from recognition.exceptions import ServiceError
from recognition.models import AccessEvent, Face, Identification, Person
from recognition.services import review


@pytest.fixture
def rita(make_user):
    return make_user("rita", "reviewer")


@pytest.fixture
def signed_in(client, rita):
    client.force_login(rita)
    return client


def test_undo_restores_a_confirmation_and_is_logged(db, signed_in):
    ann, ben = make_person("Ann"), make_person("Ben")
    face = probe_face()
    to_ann, to_ben = propose(face, (ann, 0.3), (ben, 0.5))
    body = signed_in.post(reverse("review-decide"), {"decision": f"confirm:{to_ann.pk}"},
                          HTTP_ACCEPT="application/json").json()
    assert body["queue"] == {"pending": 0, "faces": 0} and body["faces"] == [face.pk]
    assert Face.objects.get(pk=face.pk).person == ann
    assert f"Face {face.pk} confirmed as" in signed_in.get(reverse("review-queue")).content.decode()

    undone = signed_in.post(reverse("review-undo"), {"face": face.pk}, HTTP_ACCEPT="application/json").json()
    assert undone["undone"] == [face.pk] and undone["queue"] == {"pending": 2, "faces": 1}
    assert status_of(to_ann, to_ben) == ["pending", "pending"]
    assert Face.objects.get(pk=face.pk).person is None
    event = AccessEvent.objects.get(action="review.undo")
    assert event.actor_name == "rita" and event.detail["undone"] == "identification.confirm"


def test_undo_of_an_assignment_puts_back_the_person_the_face_had(db, signed_in, rita):
    ann, ben, cat = make_person("Ann"), make_person("Ben"), make_person("Cat")
    face = probe_face()
    Face.objects.filter(pk=face.pk).update(person=cat)
    (to_ann,) = propose(face, (ann, 0.3))
    review.assign(face=face.pk, person=ben, reviewer=rita)
    review.undo_last_decision(face=face.pk, reviewer=rita)
    assert Face.objects.get(pk=face.pk).person == cat and status_of(to_ann) == ["pending"]


def test_a_reviewer_cannot_undo_someone_elses_decision(db, signed_in, make_user):
    ann = make_person("Ann")
    face = probe_face()
    (ident,) = propose(face, (ann, 0.3))
    vera = make_user("vera", "reviewer")
    review.confirm(identification=ident, reviewer=vera)
    response = signed_in.post(reverse("review-undo"), {"face": face.pk}, HTTP_ACCEPT="application/json")
    assert response.status_code == 409 and "Only the reviewer" in response.json()["errors"][0]
    assert status_of(ident) == ["confirmed"] and Face.objects.get(pk=face.pk).person == ann
    assert not AccessEvent.objects.filter(action="review.undo").exists()


def test_undo_is_refused_after_the_window_or_once_the_face_changed(db, rita):
    ann, ben = make_person("Ann"), make_person("Ben")
    old, changed = probe_face(), probe_face()
    (late,) = propose(old, (ann, 0.3))
    review.confirm(identification=late, reviewer=rita)
    Identification.objects.filter(pk=late.pk).update(decided_at=timezone.now() - timedelta(minutes=16))
    with pytest.raises(ServiceError, match="15 minutes"):
        review.undo_last_decision(face=old.pk, reviewer=rita)
    (ident,) = propose(changed, (ann, 0.3))
    review.confirm(identification=ident, reviewer=rita)
    Face.objects.filter(pk=changed.pk).update(person=ben)  # changed since (e.g. a merge)
    with pytest.raises(ServiceError, match="changed after"):
        review.undo_last_decision(face=changed.pk, reviewer=rita)
    assert status_of(late, ident) == ["confirmed", "confirmed"]


def test_typed_names_are_accepted_when_they_name_one_person(db, signed_in):
    ann = make_person("Ann Lee")
    face = probe_face()
    (ident,) = propose(face, (make_person("Ben"), 0.5))
    signed_in.post(reverse("review-decide"),
                   {"decision": f"assign:{ident.pk}", f"person-{ident.pk}": "ann lee"})
    assert Face.objects.get(pk=face.pk).person == ann

    make_person("Cy"), make_person("Cy")
    other = probe_face()
    (second,) = propose(other, (ann, 0.5))
    response = signed_in.post(reverse("review-decide"),
                              {"decision": f"assign:{second.pk}", f"person-{second.pk}": "Cy"},
                              HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "Several people" in response.json()["error"]
    assert Face.objects.get(pk=other.pk).person is None


def test_merge_offers_and_accepts_only_people_who_can_be_merged(db, signed_in, make_user):
    with_account = Person.objects.create(display_name="Ann", user=make_user("ann", "uploader"))
    other_account = Person.objects.create(display_name="Ann B", user=make_user("annb", "uploader"))
    no_account = make_person("Ann C")
    page = signed_in.get(reverse("person-detail", args=[with_account.pk])).content.decode()
    assert f"(#{no_account.pk})" in page and f"(#{other_account.pk})" not in page
    response = signed_in.post(reverse("person-merge", args=[with_account.pk]),
                              {"other": f"#{other_account.pk}", "confirm": "yes"}, follow=True)
    assert "cannot be merged" in response.content.decode()
    assert Person.objects.get(pk=other_account.pk).merged_into_id is None


def test_a_face_taken_off_someone_goes_to_unassigned_faces_and_can_be_assigned_there(db, signed_in):
    ann, ben = make_person("Ann"), make_person("Ben")
    face = probe_face()
    Face.objects.filter(pk=face.pk).update(person=ann)
    signed_in.post(reverse("face-unassign", args=[face.pk]))
    page = signed_in.get(reverse("unassigned-faces")).content.decode()
    assert f'data-face="{face.pk}"' in page
    pending = probe_face()
    propose(pending, (ann, 0.4))
    assert f'data-face="{pending.pk}"' not in signed_in.get(reverse("unassigned-faces")).content.decode()
    signed_in.post(reverse("face-assign", args=[face.pk]), {"person": "Ben"})
    assert Face.objects.get(pk=face.pk).person == ben
    assert f'data-face="{face.pk}"' not in signed_in.get(reverse("unassigned-faces")).content.decode()


def test_statistics_count_only_what_reviewers_decided(db, signed_in, rita):
    people = [make_person(n) for n in ("Ann", "Ben", "Cy")]
    face = probe_face()
    first, *others = propose(face, *((p, 0.3 + i / 10) for i, p in enumerate(people)))
    review.confirm(identification=first, reviewer=rita)  # the two others are rejected automatically
    page = signed_in.get(reverse("stats")).content.decode()
    assert "100%" in page and "1 decided by reviewers" in page


def test_a_perfect_match_shows_a_full_similarity_bar(db, signed_in):
    (ident,) = propose(probe_face(), (make_person("Ann"), 0.0))
    page = signed_in.get(reverse("review-queue")).content.decode()
    assert 'value="100"' in page and "similarity 100%" in page
