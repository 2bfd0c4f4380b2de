"""Reads that apply visibility rules: who may see which photos, faces and consents."""

from __future__ import annotations

from django.http import Http404

from recognition.models import Consent, Face, Photo
from recognition.roles import CAN_ERASE, CAN_REVIEW


def sees_all_photos(user) -> bool:
    """Reviewers (to judge proposals) and operators (to erase) see every photo; others their own."""
    return user.has_perm(CAN_REVIEW) or user.has_perm(CAN_ERASE)


def photos_for(user):
    qs = Photo.objects.all()
    return qs if sees_all_photos(user) else qs.filter(uploader=user)


def photo_for(user, photo_id: int) -> Photo:
    """The photo if ``user`` may see it; 404 otherwise (the same answer as for an id that does not exist)."""
    photo = photos_for(user).select_related("person").filter(pk=photo_id).first()
    if photo is None:
        raise Http404("No such photo.")
    return photo


def face_for(user, face_id: int) -> Face:
    qs = Face.objects.select_related("photo", "person")
    if not sees_all_photos(user):
        qs = qs.filter(photo__uploader=user)
    face = qs.filter(pk=face_id).first()
    if face is None:
        raise Http404("No such face.")
    return face


def consents_for(user):
    return Consent.objects.filter(person__user=user).select_related("notice")


def consent_for(user, consent_id: int) -> Consent:
    consent = consents_for(user).filter(pk=consent_id).first()
    if consent is None:
        raise Http404("No such consent.")
    return consent
