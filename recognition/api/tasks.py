"""Celery task of the API: 1:1 verification of two images, run by the workers (where the models live).

The images travel base64-encoded in the task message and exist only in memory: nothing
is written to disk or to the database, and the result carries only numbers.
"""

from __future__ import annotations

import base64

from celery import shared_task

from recognition import runtime
from recognition.engine.decode import decode_image
from recognition.engine.errors import ImageError

VERIFY_TIME_LIMIT_S = 60


def _best_face(faces):
    good = [f for f in faces if f.quality.is_good and f.embedding is not None]
    if not good:
        return None
    return max(good, key=lambda f: f.box[2] * f.box[3])


@shared_task(name="recognition.api.tasks.verify_faces", soft_time_limit=VERIFY_TIME_LIMIT_S,
             time_limit=VERIFY_TIME_LIMIT_S + 15, acks_late=False, ignore_result=False)
def verify_faces(image1_b64: str, image2_b64: str) -> dict:
    """Distance between the largest good face of each image, or the reason there is none."""
    pipeline = runtime.get_pipeline()
    best, counts = [], []
    for n, encoded in enumerate((image1_b64, image2_b64), start=1):
        try:
            image = decode_image(base64.b64decode(encoded), **runtime.image_limits())
        except ImageError as exc:
            return {"ok": False, "field": f"image{n}", "error": str(exc)}
        faces = pipeline.process(image)
        counts.append(len(faces))
        face = _best_face(faces)
        if face is None:
            reason = "no face was found" if not faces else "no face is good enough to compare"
            return {"ok": False, "field": f"image{n}", "error": f"Image {n}: {reason}."}
        best.append(face)
    return {"ok": True, "distance": best[0].distance(best[1]), "faces_found": counts,
            "pipeline_version": pipeline.version}
