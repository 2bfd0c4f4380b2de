"""Enrol every photo in a folder for one person, under written consent given on the command line."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recognition.exceptions import ServiceError
from recognition.models import Consent, Person, Photo
from recognition.services.consent import active_consent, give_consent
from recognition.services.photos import process_photo, upload_photo

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"}


class Command(BaseCommand):
    help = "Enrol a folder of photos for a person (written consent evidence required)."

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--person", help="display name of a NEW person to create")
        who.add_argument("--person-id", type=int, help="an existing person")
        parser.add_argument("--consent-evidence", default="",
                            help="reference to the signed written consent (required unless the person "
                                 "already has an active enrol consent)")
        parser.add_argument("--operator", required=True, help="username recording this enrolment")
        parser.add_argument("--async", dest="use_queue", action="store_true",
                            help="queue the photos for the workers instead of processing here")

    def handle(self, *args, folder: Path, person, person_id, consent_evidence, operator, use_queue, **opts):
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        try:
            actor = get_user_model().objects.get(username=operator)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"no user named {operator!r}") from exc
        if person_id:
            subject = Person.objects.filter(pk=person_id, erased_at__isnull=True).first()
            if subject is None:
                raise CommandError(f"no person with id {person_id}")
        else:
            subject = Person.objects.create(display_name=person)
        if active_consent(subject, Photo.Purpose.ENROL) is None:
            if not consent_evidence.strip():
                raise CommandError("this person has no active enrol consent: give --consent-evidence")
            try:
                give_consent(person=subject, purposes={"enrol"}, method=Consent.Method.COMMAND,
                             given_by=actor, evidence=consent_evidence)
            except ServiceError as exc:
                raise CommandError(exc.message) from exc
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CommandError(f"no image files in {folder}")
        enrolled = failed = 0
        for path in tqdm(files, desc=f"enrolling {subject.display_name}", unit="photo"):
            try:
                result = upload_photo(uploader=actor, file=path.read_bytes(), purpose=Photo.Purpose.ENROL,
                                      filename=path.name, person=subject)
            except ServiceError as exc:
                failed += 1
                tqdm.write(f"  {path.name}: refused: {exc.message}")
                continue
            photo = result.photo
            if not use_queue:
                photo = process_photo(photo_id=photo.pk) or Photo.objects.get(pk=photo.pk)
                if photo.status == Photo.Status.FAILED:
                    failed += 1
                    tqdm.write(f"  {path.name}: {photo.error}")
                    continue
            enrolled += 1
        verb = "queued" if use_queue else "enrolled"
        self.stdout.write(self.style.SUCCESS(
            f"person {subject.pk} ({subject.display_name}): {enrolled} photo(s) {verb}, {failed} failed"))
