"""Identify the faces in one photo from the command line (stored and logged like an upload)."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from recognition import selectors
from recognition.exceptions import ServiceError
from recognition.models import Photo
from recognition.services.photos import process_photo, upload_photo


class Command(BaseCommand):
    help = "Identify the faces in a photo; prints the outcome of each face for that account."

    def add_arguments(self, parser):
        parser.add_argument("photo", type=Path)
        parser.add_argument("--as", dest="username", required=True,
                            help="uploader account with an active 'identify' consent")
        parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")

    def handle(self, *args, photo: Path, username: str, as_json: bool, **opts):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not photo.is_file():
            raise CommandError(f"{photo} is not a file")
        try:
            result = upload_photo(uploader=user, file=photo.read_bytes(), purpose=Photo.Purpose.IDENTIFY,
                                  filename=photo.name)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        record = process_photo(photo_id=result.photo.pk) or Photo.objects.get(pk=result.photo.pk)
        # The same disclosure as the pages and the API: names only once a reviewer confirmed them,
        # candidates only for a reviewer's account (docs/rules.md).
        outcomes = selectors.face_outcomes(user, [record])[record.pk]
        faces = []
        for o in outcomes:
            face = {"face": o.face.pk, "box": o.face.box, "good": o.face.is_good,
                    "quality_reasons": o.face.quality_reasons, "outcome": o.outcome,
                    "identified_as": o.person_name or None}
            if o.candidates is not None:
                face["candidates"] = [{"person": i.candidate_id, "name": str(i.candidate),
                                       "distance": round(i.distance, 4), "status": i.status}
                                      for i in o.candidates]
            faces.append(face)
        report = {"photo": record.pk, "status": record.status, "error": record.error, "faces": faces}
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(f"photo {record.pk}: {record.status} {record.error}".rstrip())
        for n, (f, o) in enumerate(zip(report["faces"], outcomes, strict=True), 1):
            text = o.label
            if "candidates" in f:
                text += "; candidates: " + (", ".join(f"{c['name']} ({c['distance']})"
                                                      for c in f["candidates"]) or "none")
            quality = "" if f["good"] else f" [low quality: {'; '.join(f['quality_reasons'])}]"
            self.stdout.write(f"  face {n}: {text}{quality}")
