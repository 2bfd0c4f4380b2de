"""Identify the faces in one photo from the command line (stored and logged like an upload)."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from recognition.exceptions import ServiceError
from recognition.models import Photo
from recognition.services.photos import process_photo, upload_photo


class Command(BaseCommand):
    help = "Identify the faces in a photo; prints each face and its proposed identifications."

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
        report = {
            "photo": record.pk, "status": record.status, "error": record.error,
            "faces": [
                {"face": f.pk, "box": f.box, "good": f.is_good, "quality_reasons": f.quality_reasons,
                 "candidates": [{"person": i.candidate_id, "name": str(i.candidate),
                                 "distance": round(i.distance, 4), "status": i.status}
                                for i in f.identifications.select_related("candidate").order_by("rank")]}
                for f in record.faces.all()
            ],
        }
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(f"photo {record.pk}: {record.status} {record.error}".rstrip())
        for n, f in enumerate(report["faces"], 1):
            names = ", ".join(f"{c['name']} ({c['distance']})" for c in f["candidates"]) or "unknown"
            quality = "" if f["good"] else f" [low quality: {'; '.join(f['quality_reasons'])}]"
            self.stdout.write(f"  face {n}: {names}{quality}")
