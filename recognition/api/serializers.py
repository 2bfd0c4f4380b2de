"""Request and response shapes of the API. Responses never carry embeddings or image bytes."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from recognition.models import (
    AccessEvent,
    ApiToken,
    Consent,
    ConsentNotice,
    ErasureReceipt,
    Identification,
    Person,
    Photo,
)
from recognition.services.erasure import RECEIPT_ALGORITHM

PURPOSES = Photo.Purpose.choices
MAX_WAIT_S = 30


class StrictCharField(serializers.CharField):
    """A JSON string, not a number that DRF would quietly turn into one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a string of digits, not a boolean, not 1.0."""

    default_error_messages = {"invalid": "A whole number is required (not a string or a boolean)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- tokens -------------------------------------------------------------------------------------

class TokenSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "active"]
        read_only_fields = fields

    def get_active(self, token: ApiToken) -> bool:
        return token.revoked_at is None


class TokenCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, help_text="What the token is for, e.g. 'door controller'.")


class IssuedTokenSerializer(TokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The token. Shown once: it is stored only hashed.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


# --- consent ------------------------------------------------------------------------------------

class NoticeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentNotice
        fields = ["version", "text", "sha256", "published_at"]
        read_only_fields = fields


class ConsentSerializer(serializers.ModelSerializer):
    purposes = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()

    class Meta:
        model = Consent
        fields = ["id", "notice_version", "notice_sha256", "purposes", "method", "given_at", "expires_at",
                  "withdrawn_at", "active"]
        read_only_fields = fields

    def get_purposes(self, consent: Consent) -> list[str]:
        flags = (("enrol", consent.purpose_enrol), ("identify", consent.purpose_identify))
        return [p for p, on in flags if on]

    def get_active(self, consent: Consent) -> bool:
        return consent.is_active()


class ConsentCreateSerializer(serializers.Serializer):
    purposes = serializers.ListField(child=serializers.ChoiceField(choices=PURPOSES), min_length=1,
                                     max_length=2, help_text="What it allows: enrol and/or identify.")
    notice_sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$", help_text="sha256 of the notice text that the person read (GET /consent-notice/).")


# --- photos and faces ---------------------------------------------------------------------------

class CandidateSerializer(serializers.ModelSerializer):
    identification = serializers.IntegerField(source="pk", read_only=True)
    person = serializers.IntegerField(source="candidate_id", read_only=True)
    person_name = serializers.SerializerMethodField()

    class Meta:
        model = Identification
        fields = ["identification", "person", "person_name", "distance", "rank", "status"]
        read_only_fields = fields

    def get_person_name(self, ident: Identification) -> str:
        return str(ident.candidate)


class IdentitySerializer(serializers.Serializer):
    person = serializers.IntegerField()
    name = serializers.CharField()


class FaceSerializer(serializers.Serializer):
    """One face and its outcome for the caller (``selectors.face_outcomes``, docs/rules.md).

    Built from a ``FaceOutcome``. ``candidates`` is present for reviewers only: an uploader
    learns who a face is only once a reviewer has confirmed it (``identified_as``).
    """

    id = serializers.IntegerField(source="face.pk")
    index = serializers.IntegerField(source="face.index")
    box = serializers.ListField(child=serializers.FloatField(), source="face.box",
                                help_text="[x, y, width, height] in photo pixels.")
    det_score = serializers.FloatField(source="face.det_score")
    quality = serializers.FloatField(source="face.quality")
    is_good = serializers.BooleanField(source="face.is_good")
    quality_reasons = serializers.ListField(child=serializers.CharField(), source="face.quality_reasons")
    enrolled = serializers.BooleanField(source="face.enrolled")
    pipeline_version = serializers.CharField(source="face.pipeline_version")
    outcome = serializers.ChoiceField(
        choices=["awaiting_review", "not_identified", "confirmed", "enrolled", "not_enrolled"],
        help_text="awaiting_review: a reviewer has not decided yet; not_identified: nobody was proposed, "
                  "or every proposal was rejected; confirmed: a reviewer confirmed who it is; enrolled / "
                  "not_enrolled on enrolment photos.")
    identified_as = serializers.SerializerMethodField(
        help_text="The confirmed (or enrolled) person; null before a reviewer confirms.")
    candidates = serializers.SerializerMethodField(
        help_text="Reviewers only (absent for uploaders): proposed identities, nearest first.")

    @extend_schema_field(IdentitySerializer(allow_null=True))
    def get_identified_as(self, outcome) -> dict | None:
        if outcome.person_id is None:
            return None
        return {"person": outcome.person_id, "name": outcome.person_name}

    @extend_schema_field(CandidateSerializer(many=True, required=False))
    def get_candidates(self, outcome):
        return CandidateSerializer(outcome.candidates or [], many=True).data

    def to_representation(self, outcome):
        data = super().to_representation(outcome)
        if outcome.candidates is None:
            del data["candidates"]
        return data


class PhotoSerializer(serializers.ModelSerializer):
    status_url = serializers.SerializerMethodField()

    class Meta:
        model = Photo
        fields = ["id", "purpose", "status", "error", "original_name", "width", "height", "image_format",
                  "size_bytes", "sha256", "created_at", "finished_at", "status_url"]
        read_only_fields = fields

    def get_status_url(self, photo: Photo) -> str:
        request = self.context.get("request")
        path = f"/api/v1/photos/{photo.pk}/"
        return request.build_absolute_uri(path) if request else path


class PhotoDetailSerializer(PhotoSerializer):
    """A photo with its faces; the view passes each face's outcome in ``context["outcomes"]``."""

    faces = serializers.SerializerMethodField()

    class Meta(PhotoSerializer.Meta):
        fields = [*PhotoSerializer.Meta.fields, "faces"]
        read_only_fields = fields

    @extend_schema_field(FaceSerializer(many=True))
    def get_faces(self, photo: Photo):
        return FaceSerializer(self.context.get("outcomes", []), many=True).data


class PhotoUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=f"An image, at most {settings.UPLOAD_MAX_BYTES // 1_000_000} MB.")
    purpose = serializers.ChoiceField(choices=PURPOSES)


class PhotoListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=Photo.Status.choices, required=False)
    purpose = serializers.ChoiceField(choices=PURPOSES, required=False)


class IdentifyUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The image whose faces to identify.")


class WaitQuery(serializers.Serializer):
    wait = serializers.IntegerField(min_value=0, max_value=MAX_WAIT_S, required=False, default=0,
                                    help_text="Seconds to wait for the result (default 0: answer 202 at "
                                              "once and poll status_url); longer waits are cut to the "
                                              "server's API_MAX_WAIT_S (10 s by default).")

    def validate_wait(self, value: int) -> int:
        return min(value, int(settings.API_MAX_WAIT_S))


# --- verify ---------------------------------------------------------------------------------------

class VerifyRequestSerializer(serializers.Serializer):
    image1 = serializers.FileField()
    image2 = serializers.FileField()


class VerifyPendingSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The verification's id.")
    status = serializers.ChoiceField(choices=["pending", "done"])
    status_url = serializers.CharField(help_text="Poll it (GET) for the result: 202 while pending.")


class VerifyResultSerializer(VerifyPendingSerializer):
    same_person = serializers.BooleanField(help_text="The two faces are of the same person.")
    decision = serializers.ChoiceField(choices=["same", "different"])
    faces_found = serializers.ListField(child=serializers.IntegerField(), help_text="Faces in each image.")
    pipeline_version = serializers.CharField()
    distance = serializers.FloatField(required=False,
                                      help_text="Reviewers only: Euclidean distance between the two faces.")
    threshold = serializers.FloatField(required=False,
                                       help_text="Reviewers only: same when distance <= this.")


# --- people and review ------------------------------------------------------------------------------

class PersonSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = Person
        fields = ["id", "name", "pseudonym", "created_at", "last_interaction_at", "erased_at", "merged_into"]
        read_only_fields = fields

    def get_name(self, person: Person) -> str:
        return str(person)


class PersonListSerializer(PersonSerializer):
    face_count = serializers.IntegerField(read_only=True)
    enrolled_count = serializers.IntegerField(read_only=True)
    pending_count = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta(PersonSerializer.Meta):
        fields = [*PersonSerializer.Meta.fields, "face_count", "enrolled_count", "pending_count"]
        read_only_fields = fields


class PersonDetailSerializer(PersonSerializer):
    enrolled_faces = serializers.SerializerMethodField()
    faces = serializers.SerializerMethodField()
    photos = serializers.SerializerMethodField()
    consent_active = serializers.SerializerMethodField()

    class Meta(PersonSerializer.Meta):
        fields = [*PersonSerializer.Meta.fields, "enrolled_faces", "faces", "photos", "consent_active"]
        read_only_fields = fields

    def get_enrolled_faces(self, person: Person) -> int:
        return person.faces.filter(enrolled=True).count()

    def get_faces(self, person: Person) -> int:
        return person.faces.count()

    def get_photos(self, person: Person) -> int:
        return person.photos.count()

    def get_consent_active(self, person: Person) -> bool:
        return person.consents.filter(Consent.active_q()).exists()


class PeopleQuery(serializers.Serializer):
    q = serializers.CharField(required=False, max_length=100, help_text="Part of the name or pseudonym.")


class MergeSerializer(serializers.Serializer):
    into = StrictIntegerField(min_value=1, help_text="The person that remains.")


class IdentificationSerializer(serializers.ModelSerializer):
    face = serializers.IntegerField(source="face_id", read_only=True)
    photo = serializers.IntegerField(source="face.photo_id", read_only=True)
    candidate = serializers.IntegerField(source="candidate_id", read_only=True)
    candidate_name = serializers.SerializerMethodField()

    class Meta:
        model = Identification
        fields = ["id", "face", "photo", "candidate", "candidate_name", "distance", "rank", "status",
                  "decided_at", "created_at"]
        read_only_fields = fields

    def get_candidate_name(self, ident: Identification) -> str:
        return str(ident.candidate)


class IdentificationQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=Identification.Status.choices, required=False, default="pending")


class AssignSerializer(serializers.Serializer):
    person = StrictIntegerField(min_value=1, help_text="The person the face belongs to.")


# --- audit and erasure ------------------------------------------------------------------------------

class AccessEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessEvent
        fields = ["id", "at", "actor_name", "role", "action", "object_type", "object_id", "person_ref",
                  "purpose", "ip", "request_id", "detail", "prev_hash", "hash"]
        read_only_fields = fields


class AuditQuery(serializers.Serializer):
    """Documents the filters; audit_export.parse_filter reads them, as on the page."""

    since = serializers.CharField(required=False, max_length=40,
                                  help_text="From this time: YYYY-MM-DD or ISO 8601 (UTC unless an offset).")
    until = serializers.CharField(required=False, max_length=40,
                                  help_text="Up to this time; a bare date includes the whole day.")
    actor = serializers.CharField(required=False, max_length=150, help_text="Username of the actor.")
    person = serializers.CharField(required=False, max_length=40, help_text="Pseudonym (or id).")
    action = serializers.CharField(required=False, max_length=60,
                                   help_text="e.g. photo.upload; or a prefix ending with a dot: photo.")


class AbuseQuery(serializers.Serializer):
    days = serializers.IntegerField(required=False, min_value=1, max_value=365,
                                    help_text="The window, in days (ABUSE_WINDOW_DAYS by default).")
    order = serializers.ChoiceField(choices=["requests", "people"], required=False, default="requests",
                                    help_text="Rank by identify requests or by distinct people matched.")


class UploaderActivitySerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    requests = serializers.IntegerField(help_text="Identify requests in the window.")
    refused = serializers.IntegerField(help_text="Requests refused over the quota.")
    people_matched = serializers.IntegerField(help_text="Distinct people their photos were proposed as.")
    proposals = serializers.IntegerField()
    requests_per_day = serializers.FloatField()
    people_per_day = serializers.FloatField()
    flagged = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())


class AbuseReportSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    flag_identify_per_day = serializers.IntegerField()
    flag_people_per_day = serializers.IntegerField()
    identify_quota_per_day = serializers.IntegerField()
    uploaders = UploaderActivitySerializer(many=True)


class ChainReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    first_broken_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    macs_checked = serializers.IntegerField(help_text="Entries whose HMAC under the audit key was checked.")
    hmac_keys = serializers.ListField(child=serializers.CharField(), help_text="Fingerprints of those keys.")
    checkpoints_checked = serializers.IntegerField(help_text="Signed checkpoints matched.")
    latest_checkpoint = serializers.DictField(allow_null=True)
    summary = serializers.CharField(help_text="What was checked, in words.")


class ErasureRequestSerializer(serializers.Serializer):
    person = StrictIntegerField(min_value=1)
    reason = StrictCharField(max_length=200, help_text="e.g. 'GDPR art. 17 request of 2026-01-02'.")


class ReceiptSerializer(serializers.ModelSerializer):
    algorithm = serializers.SerializerMethodField(help_text="How the signature is computed.")
    class Meta:
        model = ErasureReceipt
        fields = ["id", "person_ref", "requested_by", "reason", "erased_at", "counts", "file_hashes",
                  "payload", "signature", "algorithm"]
        read_only_fields = fields

    def get_algorithm(self, receipt: ErasureReceipt) -> str:
        return RECEIPT_ALGORITHM


class ReceiptDocumentSerializer(serializers.Serializer):
    payload = serializers.DictField(help_text="The signed payload, as in the receipt.")
    signature = StrictCharField(max_length=64, min_length=64, help_text="64 hexadecimal characters.",
                                validators=[RegexValidator(r"^[0-9a-f]{64}$", "A signature is 64 hexadecimal "
                                                                              "characters (0-9, a-f).")])


class ReceiptCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="The signature matches the receipt's content.")
    message = serializers.CharField()
