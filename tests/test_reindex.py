"""``manage.py reindex``: faces of an older pipeline version are re-embedded with the current one.

A real gallery of two pipeline versions: real photos through the real pipeline (MTCNN and the
TensorFlow ResNet), stored in the real PostgreSQL; the "new" version is a real configuration
change of the pipeline (flip test-time augmentation toggled), not a stub.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command

from recognition import runtime
from recognition.engine.decode import decode_image
from recognition.engine.pipeline import FacePipeline
from recognition.models import Consent, Face, Person
from recognition.services.matching import match_embedding
from tests.helpers import consent_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_pipeline(monkeypatch):
    """Switch the process's pipeline to a new version (the same models, flip augmentation toggled)."""
    old = runtime.get_pipeline()
    new = FacePipeline(detector=old.detector, embedder=old.embedder, flip=not old.flip)
    assert new.version != old.version
    return old, new, lambda: monkeypatch.setattr(runtime, "get_pipeline", lambda: new)


def _uploader(make_user, name):
    user = make_user(name, "uploader")
    consent_for(user, "enrol", "identify")
    return user


def _reindex(*args) -> str:
    out = io.StringIO()
    call_command("reindex", *args, stdout=out)
    return out.getvalue()


def test_reindex_moves_old_faces_to_the_new_version_resumably_and_matching_never_mixes(
        make_user, ingest, face_photo, new_pipeline):
    old, new, switch = new_pipeline
    alice, bob, carol = (_uploader(make_user, n) for n in ("alice", "bob", "carol"))
    p_alice = ingest(alice, face_photo("obama.jpg"), "enrol")
    p_bob = ingest(bob, face_photo("biden.jpg"), "enrol")
    switch()
    p_carol = ingest(carol, face_photo("obama3.jpg"), "enrol")
    assert set(Face.objects.values_list("pipeline_version", flat=True)) == {old.version, new.version}
    alice_person = Person.objects.get(faces__photo=p_alice)

    probe = new.process(decode_image(face_photo("obama2.jpg")))[0].embedding
    # before: alice's face (old version) is invisible to a probe of the new version
    people = {c.person.pk for c in match_embedding(probe, pipeline_version=new.version)}
    assert alice_person.pk not in people and Person.objects.get(faces__photo=p_carol).pk in people

    assert "2 face(s) of older versions in 2 photo(s)" in _reindex("--dry-run")
    assert Face.objects.filter(pipeline_version=old.version).count() == 2  # dry run changed nothing

    out = _reindex("--limit", "1")  # interrupted after one photo...
    assert "1 face(s) of older versions left" in out
    out = _reindex()  # ...and resumed
    assert "re-embedded 1 face(s) in 1 photo(s)" in out and "0 face(s) of older versions left" in out
    assert "0 face(s) of older versions" in _reindex()

    for photo in (p_alice, p_bob):
        face = Face.objects.get(photo=photo)
        assert face.pipeline_version == new.version and face.enrolled and face.person is not None
        fresh = new.process(decode_image(face_photo("obama.jpg" if photo == p_alice else "biden.jpg")))[0]
        # the stored vector is what the new pipeline gives for that photo
        assert np.linalg.norm(np.asarray(face.embedding) - fresh.embedding) < 1e-3
        # and not the old one
        assert np.linalg.norm(np.asarray(face.embedding) -
                              old.process(decode_image(face_photo(photo.original_name)))[0].embedding) > 1e-3
        photo.refresh_from_db()
        assert photo.pipeline_version == new.version
    people = [c.person.pk for c in match_embedding(probe, pipeline_version=new.version)]
    assert people[0] in (alice_person.pk, Person.objects.get(faces__photo=p_carol).pk)
    assert alice_person.pk in people


def test_reindex_does_not_process_a_photo_whose_consent_is_no_longer_active(
        make_user, ingest, face_photo, new_pipeline):
    """The attack: re-processing the biometric data of someone who no longer consents."""
    old, new, switch = new_pipeline
    dave = _uploader(make_user, "dave")
    photo = ingest(dave, face_photo("obama.jpg"), "enrol")
    Consent.objects.filter(person__faces__photo=photo).update(purpose_enrol=False)
    switch()
    out = _reindex()
    assert "skipped 1 photo(s): consent no longer active" in out
    face = Face.objects.get(photo=photo)
    assert face.pipeline_version == old.version  # untouched, so never matched by the new version
