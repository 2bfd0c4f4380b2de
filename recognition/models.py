"""The domain: people, their consent, photos, faces, identifications, and the audit trail."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIM = 128


def private_storage():
    return storages["private"]


class Person(models.Model):
    """A data subject: someone whose face may be enrolled or identified."""

    display_name = models.CharField(max_length=200)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="person"
    )
    pseudonym = models.CharField(max_length=40, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_interaction_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["display_name", "id"]
        permissions = [
            ("merge_person", "Can merge two people"),
            ("erase_person", "Can erase a person's biometric data"),
        ]

    def __str__(self) -> str:
        return self.display_name if not self.erased_at else self.pseudonym

    def save(self, *args, **kwargs):
        if not self.pseudonym:
            self.pseudonym = f"subject-{uuid.uuid4().hex[:16]}"
        super().save(*args, **kwargs)


class ConsentNotice(models.Model):
    """One published version of the consent notice; its exact text is hashed."""

    version = models.CharField(max_length=20, unique=True)
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at"]

    def __str__(self) -> str:
        return f"Notice {self.version}"


class Consent(models.Model):
    """Evidence that a person agreed to a notice for some purposes."""

    class Method(models.TextChoices):
        WEB = "web", "Signed-in click"
        API = "api", "API call"
        COMMAND = "command", "Operator command (written consent on file)"

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="consents")
    notice = models.ForeignKey(ConsentNotice, on_delete=models.PROTECT)
    notice_version = models.CharField(max_length=20)
    notice_sha256 = models.CharField(max_length=64)
    purpose_enrol = models.BooleanField(default=False)
    purpose_identify = models.BooleanField(default=False)
    method = models.CharField(max_length=10, choices=Method.choices)
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                 related_name="+")
    evidence = models.TextField(blank=True, help_text="Reference to written consent, for the command method.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    given_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-given_at"]
        indexes = [models.Index(fields=["person", "withdrawn_at", "expires_at"])]

    def __str__(self) -> str:
        return f"Consent {self.pk} of {self.person}"

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return self.withdrawn_at is None and self.expires_at > at

    @staticmethod
    def active_q(prefix: str = "", at=None) -> Q:
        at = at or timezone.now()
        return Q(**{f"{prefix}withdrawn_at__isnull": True, f"{prefix}expires_at__gt": at})


class Photo(models.Model):
    class Purpose(models.TextChoices):
        ENROL = "enrol", "Enrol"
        IDENTIFY = "identify", "Identify"

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                 related_name="photos")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="photos",
                               help_text="The consenting data subject the photo was uploaded under.")
    consent = models.ForeignKey(Consent, null=True, on_delete=models.SET_NULL, related_name="photos")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    file = models.FileField(storage=private_storage, upload_to="photos/%Y/%m/", max_length=300)
    original_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    image_format = models.CharField(max_length=10)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per pipeline stage.")
    pipeline_version = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["uploader", "purpose", "sha256"],
                                    name="photo_unique_per_uploader"),
        ]
        indexes = [models.Index(fields=["status", "queued_at"])]

    def __str__(self) -> str:
        return f"Photo {self.pk} ({self.purpose}, {self.status})"


class Face(models.Model):
    """One face found in a photo, with its embedding and the pipeline version that made it."""

    photo = models.ForeignKey(Photo, on_delete=models.CASCADE, related_name="faces")
    index = models.PositiveSmallIntegerField(help_text="Position of the face within its photo.")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="faces")
    enrolled = models.BooleanField(default=False, help_text="Part of the person's gallery for matching.")
    box = models.JSONField(help_text="[x, y, width, height] in photo pixels.")
    landmarks = models.JSONField(help_text="Five [x, y] points.")
    det_score = models.FloatField()
    quality = models.FloatField()
    quality_reasons = models.JSONField(default=list, blank=True)
    is_good = models.BooleanField()
    embedding = VectorField(dimensions=EMBEDDING_DIM)
    pipeline_version = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["photo_id", "index"]
        constraints = [models.UniqueConstraint(fields=["photo", "index"], name="face_unique_index_in_photo")]
        indexes = [
            # Only enrolled faces are ever searched: the index holds them alone (smaller, and
            # no identify-only face takes a slot that the filter would then throw away).
            HnswIndex(name="face_embedding_hnsw", fields=["embedding"], m=32, ef_construction=128,
                      opclasses=["vector_l2_ops"], condition=Q(enrolled=True)),
            models.Index(fields=["person", "enrolled"]),
        ]
        permissions = [("view_face_crop", "Can view face crops")]

    def __str__(self) -> str:
        return f"Face {self.pk} in photo {self.photo_id}"


class Identification(models.Model):
    """A proposal that a face belongs to a person, awaiting a reviewer's decision."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"

    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="identifications")
    candidate = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="identifications")
    distance = models.FloatField()
    rank = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["face", "candidate"], name="identification_unique")]
        indexes = [models.Index(fields=["status", "created_at"])]
        permissions = [("review_identification", "Can review identifications")]

    def __str__(self) -> str:
        return f"{self.face} -> {self.candidate} ({self.status})"


class AccessEvent(models.Model):
    """Append-only, hash-chained record of every access to biometric data."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                              db_constraint=False, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=40, blank=True)
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    person_ref = models.CharField(max_length=40, blank=True, help_text="Pseudonym of the person concerned.")
    purpose = models.CharField(max_length=60, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # HMAC-SHA256 of ``hash`` under the audit key, and that key's fingerprint (recognition/auditkeys.py).
    mac = models.CharField(max_length=64, blank=True, default="")
    key_id = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["at"]), models.Index(fields=["action"]),
                   models.Index(fields=["person_ref"])]
        permissions = [("export_accessevent", "Can export and verify the access log")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action}"


class ErasureReceipt(models.Model):
    """Proof that a person's biometric data was erased; names no biometric content."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person_ref = models.CharField(max_length=40)
    requested_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=200)
    erased_at = models.DateTimeField(default=timezone.now)
    counts = models.JSONField()
    file_hashes = models.JSONField(default=list)
    payload = models.JSONField(help_text="The canonical signed document.")
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"Erasure receipt {self.id}"


class RetentionPolicy(models.Model):
    """The retention schedule in force (a single row)."""

    unknown_face_days = models.PositiveIntegerField(default=30)
    inactive_person_days = models.PositiveIntegerField(default=3 * 365)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        permissions = [("manage_retention", "Can set the retention policy")]

    def __str__(self) -> str:
        return f"Retention: unknown faces {self.unknown_face_days} d, people {self.inactive_person_days} d"

    @classmethod
    def current(cls) -> RetentionPolicy:
        return cls.objects.order_by("pk").first() or cls.objects.create()


class ApiToken(models.Model):
    """A personal API token. Only its sha256 is stored; the token is shown once, at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise the token.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
