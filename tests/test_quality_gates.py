"""The enrolment gate is stricter than the proposal gate, end to end (real pipeline, real database).

A face that defines a person for every later match must be a good one: a tilted head that the
proposal gate accepts (the network still matches it) is refused for enrolment, with the reason.
"""

from __future__ import annotations

import cv2
import pytest

from recognition.engine.decode import decode_image
from recognition.models import Face, Photo
from tests.helpers import consent_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def tilted_photo(face_photo, tmp_path):
    """obama.jpg rotated by 35 degrees (head roll above enrolment's 30, below proposals' 45)."""
    rgb = decode_image(face_photo("obama.jpg"))
    h, w = rgb.shape[:2]
    rot = cv2.warpAffine(rgb, cv2.getRotationMatrix2D((w / 2, h / 2), 35, 1.0), (w, h),
                         borderMode=cv2.BORDER_REPLICATE)
    path = tmp_path / "tilted.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(rot, cv2.COLOR_RGB2BGR))
    return path


def test_a_tilted_face_is_refused_for_enrolment_but_usable_for_identification(make_user, ingest,
                                                                              tilted_photo):
    alice = make_user("alice", "uploader")
    consent_for(alice, "enrol", "identify")
    enrol = ingest(alice, tilted_photo, "enrol")
    assert enrol.status == Photo.Status.FAILED
    assert "good enough to enrol" in enrol.error and "head tilted" in enrol.error
    assert not Face.objects.filter(photo=enrol, enrolled=True).exists()
    ident = ingest(alice, tilted_photo, "identify")
    assert ident.status == Photo.Status.DONE
    assert Face.objects.get(photo=ident).is_good  # proposed like any usable face
