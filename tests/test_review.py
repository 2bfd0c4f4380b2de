"""The reviewer's dashboard: the queue and its decisions, people (merge, unassign), statistics, admin."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from helpers import wait_for_photos

from recognition.audit import verify_chain
from recognition.models import AccessEvent, Consent, Face, Identification, Person, Photo
from recognition.services import review
from recognition.services.consent import give_consent, person_for_user

PENDING, CONFIRMED, REJECTED, SUPERSEDED = (Identification.Status.PENDING, Identification.Status.CONFIRMED,
                                            Identification.Status.REJECTED, Identification.Status.SUPERSEDED)
_rng = np.random.default_rng(5)


# --- Data made directly (no pixels needed: these pages never decode an image) ---

def make_photo(person=None, purpose="identify", uploader=None, **extra) -> Photo:
    extra.setdefault("status", Photo.Status.DONE)
    return Photo.objects.create(
        uploader=uploader, person=person, purpose=purpose, file=f"photos/test/{uuid.uuid4().hex}.jpg",
        sha256=uuid.uuid4().hex * 2, size_bytes=1000, width=640, height=480, image_format="JPEG", **extra)


def make_face(photo, person=None, enrolled=False, index=0) -> Face:
    return Face.objects.create(
        photo=photo, index=index, person=person, enrolled=enrolled, box=[100, 100, 120, 120],
        landmarks=[[0, 0]] * 5, det_score=0.99, quality=0.9, is_good=True,
        embedding=_rng.normal(size=128).tolist(), pipeline_version="test")


def make_person(name: str, enrolled: int = 1, consent: bool = True) -> Person:
    """A person with ``enrolled`` enrolled faces and (by default) an enrol consent on file."""
    person = Person.objects.create(display_name=name)
    if consent:
        give_consent(person=person, purposes={"enrol"}, method=Consent.Method.COMMAND,
                     evidence="signed form (test)")
    for _ in range(enrolled):
        make_face(make_photo(person, "enrol"), person=person, enrolled=True)
    return person


def propose(face, *candidates: tuple[Person, float]) -> list[Identification]:
    return [Identification.objects.create(face=face, candidate=p, distance=d, rank=r)
            for r, (p, d) in enumerate(candidates, start=1)]


def probe_face(index=0) -> Face:
    return make_face(make_photo(), index=index)


@pytest.fixture
def reviewer(make_user):
    return make_user("rita", "reviewer")


@pytest.fixture
def signed_in(client, reviewer):
    client.force_login(reviewer)
    return client


def status_of(*idents: Identification) -> list[str]:
    return [Identification.objects.get(pk=i.pk).status for i in idents]


# --- Decisions ---

def test_confirm_assigns_the_face_and_rejects_its_other_proposals(db, reviewer):
    ann, ben = make_person("Ann"), make_person("Ben")
    face = probe_face()
    first, second = propose(face, (ann, 0.38), (ben, 0.52))

    review.confirm(identification=first, reviewer=reviewer)

    face.refresh_from_db()
    assert face.person == ann
    assert face.enrolled is False  # only enrolment photos enrol
    assert status_of(first, second) == [CONFIRMED, REJECTED]
    assert Identification.objects.get(pk=first.pk).decided_by == reviewer
    event = AccessEvent.objects.get(action="identification.confirm")
    assert event.actor == reviewer and event.person_ref == ann.pseudonym
    assert verify_chain().ok


def test_reject_keeps_the_face_in_the_queue_with_its_next_candidate(db, reviewer):
    ann, ben = make_person("Ann"), make_person("Ben")
    face = probe_face()
    first, second = propose(face, (ann, 0.45), (ben, 0.55))

    review.reject(identification=first, reviewer=reviewer)

    assert status_of(first, second) == [REJECTED, PENDING]
    queue = review_queue_faces()
    assert [f.pk for f in queue] == [face.pk]
    assert [i.candidate_id for i in queue[0].pending] == [ben.pk]
    assert Face.objects.get(pk=face.pk).person is None


def review_queue_faces():
    from recognition.selectors import review_queue

    return review_queue().faces


def test_mark_unknown_rejects_everything_pending_and_leaves_no_person(db, reviewer):
    ann, ben = make_person("Ann"), make_person("Ben")
    face = probe_face()
    idents = propose(face, (ann, 0.45), (ben, 0.55))

    review.decide(action="unknown", identification=idents[1], reviewer=reviewer)

    assert status_of(*idents) == [REJECTED, REJECTED]
    assert Face.objects.get(pk=face.pk).person is None
    assert review_queue_faces() == []
    assert AccessEvent.objects.filter(action="face.mark_unknown").count() == 1


def test_assign_to_someone_else_resolves_the_face(db, reviewer):
    ann, ben, cleo = make_person("Ann"), make_person("Ben"), make_person("Cleo")
    face = probe_face()
    to_ann, to_ben = propose(face, (ann, 0.45), (ben, 0.55))

    review.decide(action="assign", identification=to_ann, person=cleo, reviewer=reviewer)
    assert Face.objects.get(pk=face.pk).person == cleo
    assert status_of(to_ann, to_ben) == [REJECTED, REJECTED]

    # Assigning to a proposed candidate confirms that proposal.
    other = probe_face()
    to_ann2, to_ben2 = propose(other, (ann, 0.45), (ben, 0.55))
    review.assign(face=other, person=ben, reviewer=reviewer)
    assert status_of(to_ann2, to_ben2) == [REJECTED, CONFIRMED]
    assert Face.objects.get(pk=other.pk).person == ben


def test_a_proposal_cannot_be_decided_twice(db, reviewer):
    from recognition.exceptions import Conflict

    face = probe_face()
    (ident,) = propose(face, (make_person("Ann"), 0.4))
    review.confirm(identification=ident, reviewer=reviewer)
    with pytest.raises(Conflict):
        review.reject(identification=ident, reviewer=reviewer)
    assert status_of(ident) == [CONFIRMED]


def test_bulk_decisions_from_the_queue_page(db, signed_in):
    ann = make_person("Ann")
    idents = [propose(probe_face(), (ann, 0.3 + i / 100))[0] for i in range(4)]

    response = signed_in.post(reverse("review-decide"), {
        "bulk": "confirm", "selected": [idents[0].pk, idents[1].pk, idents[2].pk]})
    assert response.status_code == 302
    assert status_of(*idents) == [CONFIRMED, CONFIRMED, CONFIRMED, PENDING]
    assert Face.objects.filter(person=ann, enrolled=False).count() == 3

    # JSON answer (what the page's script uses): an already decided one is reported, not an error.
    response = signed_in.post(reverse("review-decide"), {"bulk": "reject", "selected": [idents[0].pk,
                                                                                       idents[3].pk]},
                              HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["decided"] == [idents[3].pk] and body["skipped"] == [idents[0].pk]
    assert body["resolved_faces"] == [idents[3].face_id]
    assert status_of(idents[0], idents[3]) == [CONFIRMED, REJECTED]


def test_decisions_through_the_page_and_their_errors(db, signed_in):
    ann, ben = make_person("Ann"), make_person("Ben")
    face = probe_face()
    first, second = propose(face, (ann, 0.45), (ben, 0.55))
    url = reverse("review-decide")
    json = {"HTTP_ACCEPT": "application/json"}

    response = signed_in.post(url, {"decision": f"reject:{first.pk}"}, **json)
    assert response.json()["pending_faces"] == [face.pk]

    for data, message in (({"decision": f"bogus:{second.pk}"}, "Unknown decision"),
                          ({"decision": "confirm:x"}, "names no proposal"),
                          ({"decision": "confirm:999999"}, "no identification 999999"),
                          ({"decision": f"assign:{second.pk}", f"person-{second.pk}": "Nobody"}, "Choose"),
                          ({"bulk": "confirm"}, "Select at least one"),
                          ({}, "named no decision")):
        response = signed_in.post(url, data, **json)
        assert response.status_code == 400, data
        assert message in response.json()["error"]
    assert signed_in.post(url, {"decision": f"reject:{first.pk}"}, **json).status_code == 409
    assert signed_in.get(url).status_code == 405

    response = signed_in.post(url, {"decision": f"assign:{second.pk}",
                                    f"person-{second.pk}": f"{ann.display_name} (#{ann.pk})"})
    assert response.status_code == 302
    assert Face.objects.get(pk=face.pk).person == ann
    # Assigning overrides the earlier rejection of Ann's proposal: it is now the confirmed one.
    assert status_of(first, second) == [CONFIRMED, REJECTED]


# --- The queue page ---

def test_queue_shows_oldest_first_with_both_faces_and_next_candidates(db, signed_in):
    ann, ben = make_person("Ann"), make_person("Ben")
    old, new = probe_face(), probe_face()
    propose(new, (ben, 0.58))
    top, nxt = propose(old, (ann, 0.35), (ben, 0.49))
    Identification.objects.filter(face=new).update(created_at=top.created_at.replace(year=2100))

    response = signed_in.get(reverse("review-queue"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(f'id="face-{old.pk}"') < html.index(f'id="face-{new.pk}"')
    ann_face = Face.objects.get(person=ann, enrolled=True)
    assert reverse("face-crop", args=[old.pk]) in html
    assert reverse("face-crop", args=[ann_face.pk]) in html
    assert 'loading="lazy"' in html
    assert "very likely the same person" in html and "0.350" in html
    assert f'value="confirm:{nxt.pk}"' in html  # the next candidate can be confirmed directly
    assert reverse("photo-detail", args=[old.photo_id]) in html
    assert "2</strong> faces waiting" in html
    # Who was shown which proposed match is recorded.
    event = AccessEvent.objects.get(action="identification.list")
    assert event.actor.username == "rita" and event.detail["faces"] == [old.pk, new.pk]


def test_empty_queue_says_so(db, signed_in):
    response = signed_in.get(reverse("review-queue"))
    assert b"All caught up" in response.content
    assert not AccessEvent.objects.filter(action="identification.list").exists()


# Session, user, permissions, the three queue queries, the people list, the access-log entry.
QUEUE_MAX_QUERIES = 20


def test_queue_with_500_pending_uses_a_bounded_number_of_queries(db, signed_in,
                                                                 django_assert_max_num_queries):
    people = [make_person(f"Person {i}", enrolled=2) for i in range(20)]
    photos = Photo.objects.bulk_create([
        Photo(purpose="identify", file=f"photos/b/{i}.jpg", sha256=f"{i:064d}", size_bytes=1, width=640,
              height=480, image_format="JPEG", status="done") for i in range(250)])
    faces = Face.objects.bulk_create([
        Face(photo=photo, index=0, box=[1, 2, 30, 30], landmarks=[[0, 0]] * 5, det_score=0.9, quality=0.8,
             is_good=True, embedding=_rng.normal(size=128).tolist(), pipeline_version="test")
        for photo in photos])
    Identification.objects.bulk_create([
        Identification(face=face, candidate=people[(i + r) % 20], distance=0.3 + r / 10, rank=r + 1)
        for i, face in enumerate(faces) for r in range(2)])
    assert Identification.objects.filter(status=PENDING).count() == 500

    with django_assert_max_num_queries(QUEUE_MAX_QUERIES):
        response = signed_in.get(reverse("review-queue"))
    assert response.status_code == 200
    assert response.content.count(b'class="rv-item card"') == 50
    with django_assert_max_num_queries(QUEUE_MAX_QUERIES):
        last = signed_in.get(reverse("review-queue"), {"page": 5})
    assert last.content.count(b'class="rv-item card"') == 50
    assert b"page 5 of 5" in last.content
    assert signed_in.get(reverse("review-queue"), {"page": "junk"}).status_code == 200


# --- People ---

def test_people_list_and_person_page(db, signed_in):
    ann = make_person("Ann", enrolled=2)
    face = probe_face()
    propose(face, (ann, 0.4))
    make_person("Ben", enrolled=0)

    html = signed_in.get(reverse("people")).content.decode()
    assert "Ann" in html and "Ben" in html
    assert "2 faces · 2 enrolled" in html and "1 pending" in html
    best = Face.objects.filter(person=ann).order_by("id").first()
    assert reverse("face-crop", args=[best.pk]) in html
    assert "Ben" not in signed_in.get(reverse("people"), {"q": "an"}).content.decode()

    page = signed_in.get(reverse("person-detail", args=[ann.pk])).content.decode()
    for f in Face.objects.filter(person=ann):
        assert reverse("face-crop", args=[f.pk]) in page
    assert signed_in.get(reverse("person-detail", args=[999999])).status_code == 404


def test_merge_moves_everything_and_resolves_conflicting_proposals(db, signed_in, reviewer):
    ann, ann2, ben = make_person("Ann"), make_person("Ann (dup)", enrolled=2), make_person("Ben")
    give_consent(person=ann2, purposes={"enrol"}, method=Consent.Method.COMMAND, evidence="form 7")
    both = probe_face()  # proposed as both records of Ann
    to_ann, to_dup, to_ben = propose(both, (ann, 0.45), (ann2, 0.40), (ben, 0.55))
    review.confirm(identification=to_dup, reviewer=reviewer)  # decided as the duplicate
    only_dup = probe_face()
    (pending_dup,) = propose(only_dup, (ann2, 0.5))
    other_pending = propose(probe_face(), (ann, 0.5), (ann2, 0.44))
    dup_faces = set(Face.objects.filter(person=ann2).values_list("pk", flat=True))
    total = Identification.objects.count()

    # The first post only shows both people's faces and asks for a confirmation.
    asked = signed_in.post(reverse("person-merge", args=[ann.pk]), {"other": f"Ann (dup) (#{ann2.pk})"})
    assert asked.status_code == 200 and "Yes, merge" in asked.content.decode()
    for f in Face.objects.filter(person__in=[ann, ann2]):
        assert reverse("face-crop", args=[f.pk]) in asked.content.decode()
    assert Person.objects.get(pk=ann2.pk).merged_into_id is None
    response = signed_in.post(reverse("person-merge", args=[ann.pk]),
                              {"other": f"Ann (dup) (#{ann2.pk})", "confirm": "yes"})
    assert response.status_code == 302

    ann2.refresh_from_db()
    assert ann2.merged_into == ann
    assert not Face.objects.filter(person=ann2).exists() and not Photo.objects.filter(person=ann2).exists()
    assert not Consent.objects.filter(person=ann2).exists()
    assert dup_faces <= set(Face.objects.filter(person=ann).values_list("pk", flat=True))
    assert Face.objects.filter(person=ann, enrolled=True).count() == 3
    assert Identification.objects.count() == total  # nothing lost
    # The face confirmed as the duplicate is now confirmed as Ann; the duplicate's row is history.
    assert status_of(to_ann, to_dup, to_ben) == [CONFIRMED, SUPERSEDED, REJECTED]
    assert Identification.objects.get(pk=to_ann.pk).distance == pytest.approx(0.40)
    assert Face.objects.get(pk=both.pk).person == ann
    assert Identification.objects.get(pk=pending_dup.pk).candidate == ann
    assert status_of(*other_pending) == [PENDING, SUPERSEDED]
    assert not Identification.objects.filter(candidate=ann2).exclude(status=SUPERSEDED).exists()
    # The queue shows no proposal for the merged shell; the shell's page leads to Ann's.
    assert signed_in.get(reverse("person-detail", args=[ann2.pk])).url == reverse("person-detail",
                                                                                 args=[ann.pk])
    people_page = signed_in.get(reverse("people")).content.decode()
    assert reverse("person-detail", args=[ann.pk]) in people_page
    assert reverse("person-detail", args=[ann2.pk]) not in people_page
    assert AccessEvent.objects.filter(action="person.merge", person_ref=ann.pseudonym).count() == 1

    # Merging again, or with itself, is refused with a reason.
    from recognition.exceptions import ServiceError

    for other in (ann, ann2):
        with pytest.raises(ServiceError):
            review.merge_people(into=ann, other=other, reviewer=reviewer)


def test_merge_keeps_the_user_account_and_refuses_two_accounts(db, reviewer, make_user):
    account = make_user("dora", "uploader")
    give_consent(person=person_for_user(account), purposes={"enrol"}, method=Consent.Method.WEB,
                 given_by=account)
    dora = Person.objects.get(user=account)
    record = make_person("Dora (paper form)", consent=False)
    review.merge_people(into=record, other=dora, reviewer=reviewer)
    assert Person.objects.get(pk=record.pk).user == account
    assert Consent.objects.get(person=record).given_by == account

    from recognition.exceptions import ServiceError

    other = make_user("eve", "uploader")
    eve = person_for_user(other)
    with pytest.raises(ServiceError, match="own user account"):
        review.merge_people(into=record, other=eve, reviewer=reviewer)


def test_unassign_takes_a_face_off_a_person(db, signed_in, reviewer):
    ann = make_person("Ann", enrolled=2)
    enrolled_face = Face.objects.filter(person=ann).first()
    face = probe_face()
    (ident,) = propose(face, (ann, 0.45))
    review.confirm(identification=ident, reviewer=reviewer)

    response = signed_in.post(reverse("face-unassign", args=[face.pk]))
    assert response.status_code == 302
    assert Face.objects.get(pk=face.pk).person is None
    assert status_of(ident) == [REJECTED]

    signed_in.post(reverse("face-unassign", args=[enrolled_face.pk]))
    enrolled_face.refresh_from_db()
    assert enrolled_face.person is None and enrolled_face.enrolled is False  # out of the gallery
    assert AccessEvent.objects.filter(action="face.unassign").count() == 2
    # Again: nothing to take off, a clear message and no change.
    response = signed_in.post(reverse("face-unassign", args=[face.pk]), follow=True)
    assert b"not assigned to anyone" in response.content
    assert signed_in.post(reverse("face-unassign", args=[999999])).status_code == 404


# --- Statistics ---

def test_statistics_page_charts_the_system(db, signed_in, reviewer):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    ann = make_person("Ann")
    for i in range(6):
        make_photo(started_at=now - timedelta(minutes=10 + i), queued_at=now - timedelta(minutes=11 + i),
                   finished_at=now - timedelta(minutes=10 + i, seconds=-(i + 1)),
                   timings={"decode": 0.01 * i, "analyse": 0.5 + i / 10, "store": 0.02})
    make_photo(status=Photo.Status.FAILED, finished_at=now)
    for d in (0.31, 0.42):
        review.confirm(identification=propose(probe_face(), (ann, d))[0], reviewer=reviewer)
    review.reject(identification=propose(probe_face(), (ann, 0.58))[0], reviewer=reviewer)
    propose(probe_face(), (ann, 0.5))

    response = signed_in.get(reverse("stats"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") >= 4
    assert f"threshold {response.context['threshold']:.3f}" in html  # the calibrated one, marked
    assert response.context["threshold"] <= settings.MATCH_THRESHOLD
    assert "confirmed 0.300–0.325: 1" in html and "rejected 0.575–0.600: 1" in html
    assert 'id="processing-percentiles"' in html and "analyse" in html
    assert "faces waiting for review" in html
    stats = response.context["data"]
    assert stats["queue"]["pending"] == 1
    assert stats["photos_by_status"] == {"done": 1 + 6 + 4, "failed": 1}
    assert stats["processing"]["total"][50] == pytest.approx(3.5)
    assert sum(h["done"] for h in stats["throughput"]) >= 6
    assert stats["queue_depth"][-1]["depth"] == 1


def test_confidence_in_plain_language():
    label = review.confidence_label
    assert label(0.35, 0.6) == ("very likely the same person", "high")
    assert label(0.45, 0.6)[0] == "likely the same person"
    assert label(0.6, 0.6)[0] == "possibly the same person"
    assert label(0.61, 0.6)[0] == "unlikely to be the same person"
    assert label(0.45, 0.42)[0] == "unlikely to be the same person"  # a strict threshold rules


# --- Who may see it ---

@pytest.mark.parametrize("role", ["uploader", "auditor", "operator", None])
def test_the_dashboard_is_for_reviewers_only(db, client, make_user, role):
    ann = make_person("Ann")
    face = Face.objects.get(person=ann)
    client.force_login(make_user("someone", role))
    for url in (reverse("review-queue"), reverse("people"), reverse("person-detail", args=[ann.pk]),
                reverse("stats")):
        assert client.get(url).status_code == 403, url
    for url in (reverse("review-decide"), reverse("person-merge", args=[ann.pk]),
                reverse("face-unassign", args=[face.pk])):
        assert client.post(url).status_code == 403, url
    assert Face.objects.get(pk=face.pk).person == ann


def test_anonymous_visitors_are_sent_to_sign_in(db, client):
    for url in (reverse("review-queue"), reverse("people"), reverse("stats")):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_reviewer_lands_on_the_queue_and_sees_the_nav(db, signed_in):
    response = signed_in.get(reverse("home"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("review-queue")
    html = response.content.decode()
    for name in ("people", "stats"):
        assert f'href="{reverse(name)}"' in html


# --- Admin ---

def test_admin_hides_embeddings_and_files(db, client, make_user):
    from django.contrib.auth.models import User

    admin_user = User.objects.create_superuser("root", password="pw-for-tests-only")
    client.force_login(admin_user)
    ann = make_person("Ann")
    face = Face.objects.get(person=ann)
    propose(probe_face(), (ann, 0.4))
    vector_text = f"{face.embedding[0]:.4f}"[:6]

    for model in ("person", "photo", "face", "identification", "consent", "accessevent"):
        response = client.get(reverse(f"admin:recognition_{model}_changelist"))
        assert response.status_code == 200, model
        assert b"crop.jpg" not in response.content and b"photos/test/" not in response.content

    change = client.get(reverse("admin:recognition_face_change", args=[face.pk])).content.decode()
    assert "128-dimensional vector" in change
    assert 'name="embedding"' not in change and vector_text not in change
    photo_page = client.get(reverse("admin:recognition_photo_change", args=[face.photo_id])).content.decode()
    assert 'name="file"' not in photo_page
    assert reverse("photo-detail", args=[face.photo_id]) in photo_page
    # Rows are not deleted from the admin: erasure has its own service with a receipt.
    assert client.get(reverse("admin:recognition_face_delete", args=[face.pk])).status_code == 403
    assert client.get(reverse("admin:recognition_accessevent_add")).status_code == 403


# --- The real pipeline, end to end through the pages ---


def _upload(client, user, path, purpose) -> Photo:
    client.force_login(user)
    data = SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/jpeg")
    assert client.post(reverse("photo-upload"), {"photos": [data], "purpose": purpose}).status_code == 302
    return wait_for_photos(Photo.objects.filter(uploader=user).latest("pk").pk)[0]


def test_a_real_proposal_is_reviewed_and_every_crop_view_is_logged(celery_worker, client, make_user,
                                                                  face_photo):
    alice, bob = make_user("alice", "uploader"), make_user("bob", "uploader")
    give_consent(person=person_for_user(alice), purposes={"enrol"}, method="web", given_by=alice)
    give_consent(person=person_for_user(bob), purposes={"identify"}, method="web", given_by=bob)
    assert _upload(client, alice, face_photo("obama.jpg"), "enrol").status == "done"
    probe = _upload(client, bob, face_photo("obama2.jpg"), "identify")
    ident = Identification.objects.get(face__photo=probe)
    alice_person = Person.objects.get(user=alice)

    rita = make_user("rita", "reviewer")
    client.force_login(rita)
    html = client.get(reverse("review-queue")).content.decode()
    enrolled = Face.objects.get(person=alice_person, enrolled=True)
    for face_id in (ident.face_id, enrolled.pk):
        url = reverse("face-crop", args=[face_id])
        assert url in html
        crop = client.get(url)
        assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"
    seen = AccessEvent.objects.filter(action="face.view", actor=rita)
    assert sorted(int(e.object_id) for e in seen) == sorted([ident.face_id, enrolled.pk])

    response = client.post(reverse("review-decide"), {"decision": f"confirm:{ident.pk}"}, follow=True)
    assert b"All caught up" in response.content
    assert Face.objects.get(pk=ident.face_id).person == alice_person
    person_page = client.get(reverse("person-detail", args=[alice_person.pk])).content.decode()
    assert reverse("face-crop", args=[ident.face_id]) in person_page
    assert verify_chain().ok


def test_statistics_show_the_calibrated_operating_point(db, signed_in):
    from recognition.models import Consent
    from recognition.services.consent import give_consent
    from recognition.services.decision import gallery_size, threshold_for

    for n in range(30):
        person = make_person(f"P{n}", enrolled=2)
        give_consent(person=person, purposes={"enrol"}, method=Consent.Method.COMMAND, evidence="form 7")
    assert gallery_size(pipeline_version="test", refresh=True) == 60

    html = signed_in.get(reverse("stats")).content.decode()
    assert 'id="operating-point"' in html
    assert "<strong>60</strong> enrolled faces" in html
    expected = threshold_for(gallery_faces=60)
    assert expected < settings.MATCH_THRESHOLD
    assert f"at most <strong>{expected:.3f}</strong>" in html
