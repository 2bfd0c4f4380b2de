"""Django forms of the HTML pages that take input: they parse and check the request; services decide.

A form turns POST data into typed values with a message a person can act on; the rules
of the domain (how long retention may be, what a reason must say) stay in the services,
which the API shares. Only views import this module.
"""

from __future__ import annotations

import json
import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from recognition import selectors
from recognition.models import Person
from recognition.services import review as review_service

_PERSON_REF = re.compile(r"(?:#|^)(\d+)\)?\s*$")


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class _PageNumber(forms.Field):
    """A page number; anything that is not one reads as the first page (as the pages always did)."""

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> int:
        return _int(value, 1)


class _Integers(forms.Field):
    """A repeated field (``face=1&face=2``) as integers; one that is not a number reads as 0."""

    widget = forms.MultipleHiddenInput

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> list[int]:
        return [_int(v, 0) for v in value or []]


class _Strings(forms.Field):
    """A repeated field as the list of strings sent (the service says what is wrong with them)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        return list(value or [])


class _MultipleFiles(forms.FileInput):
    allow_multiple_selected = True


class _Files(forms.Field):
    """The files of a multiple file input as they came (the upload service checks each one)."""

    widget = _MultipleFiles

    def to_python(self, value) -> list:
        return [f for f in (value or []) if f]


class _File(forms.Field):
    """One uploaded file as it came, or None: the page checks what it holds and says why it refuses it."""

    widget = forms.FileInput

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)


def person_from_text(value: str) -> Person | None:
    """A person from an assign or merge field: "Name (#id)" as the suggestions offer, an id, or a typed name.

    A typed name must match exactly one person who can hold faces (case-insensitive); with
    two people of that name, the reviewer is asked to pick one from the list. The review
    service itself refuses a person without an enrol consent, and says why (docs/rules.md).
    """
    value = (value or "").strip()
    match = _PERSON_REF.search(value)
    people = selectors.mergeable_people()
    if match:
        return people.filter(pk=int(match.group(1))).first()
    if not value:
        return None
    named = list(people.filter(display_name__iexact=value)[:2])
    if len(named) > 1:
        raise ValidationError(f"Several people are called “{value}”: "
                              "choose one from the list (name and #id).")
    return named[0] if named else None


class _FirstError:
    """The one message a page shows for an invalid form: the first error, in field order."""

    def first_error(self) -> str:
        for errors in self.errors.values():
            if errors:
                return errors[0]
        return ""


class ConsentForm(_FirstError, forms.Form):
    """The purposes a person consents to and the hash of the notice they saw (the service checks both)."""

    purposes = _Strings(required=False)
    notice_sha256 = forms.CharField(required=False, strip=False)


class PhotoUploadForm(_FirstError, forms.Form):
    """An upload of photos for one purpose (each file and the purpose are the upload service's to check)."""

    photos = _Files(error_messages={"required": "Choose at least one photo to upload."})
    purpose = forms.CharField(required=False, strip=False)

    def clean_photos(self) -> list:
        files = self.cleaned_data["photos"]
        if len(files) > settings.UPLOAD_MAX_FILES:
            raise ValidationError(f"At most {settings.UPLOAD_MAX_FILES} photos at a time.")
        return files


class UndoForm(forms.Form):
    """The faces whose latest decision the reviewer takes back (``face``, repeatable, at most 500)."""

    face = _Integers()

    def clean_face(self) -> list[int]:
        return self.cleaned_data["face"][:500]


class DecisionForm(_FirstError, forms.Form):
    """One form for the whole queue: ``decision=<action>:<id>``, or ``bulk=<action>`` with ``selected``.

    Cleaned, it holds ``action``, ``identifications`` (one for a single decision), ``person``
    (for an assignment) and ``single``; ``page`` is the queue page to return to.
    """

    page = _PageNumber()
    decision = forms.CharField(required=False, strip=False)
    bulk = forms.CharField(required=False, strip=False)
    bulk_person = forms.CharField(required=False, strip=False)
    selected = _Integers()

    def clean(self) -> dict:
        data = super().clean()
        person = None
        if data.get("decision"):
            action, _, ident = data["decision"].partition(":")
            ident_id = _int(ident, 0)
            if not ident_id:
                raise ValidationError("The decision names no proposal.")
            if action == review_service.ASSIGN:
                # The person field of each proposal card is named after the proposal.
                person = person_from_text(self.data.get(f"person-{ident_id}", ""))
                if person is None:
                    raise ValidationError("Choose the person to assign the face to from the list.")
            data.update(single=True, action=action, identifications=[ident_id], person=person)
        elif data.get("bulk"):
            action = data["bulk"]
            if action == review_service.ASSIGN:
                person = person_from_text(data.get("bulk_person", ""))
                if person is None:
                    raise ValidationError("Choose the person to assign the selected faces to from the list.")
            if action not in review_service.ACTIONS:
                raise ValidationError(f"Unknown decision {action!r}.")
            data.update(single=False, action=action, person=person,
                        identifications=[i for i in data.get("selected", []) if i])
        else:
            raise ValidationError("Nothing was decided: the form named no decision.")
        return data


class MergeForm(_FirstError, forms.Form):
    """The person to merge into ``into`` (one of its merge candidates), and ``confirm=yes`` to do it."""

    _CHOOSE = ("Choose the person to merge into this one from the list (two people who both "
               "have an account cannot be merged).")
    other = forms.CharField(required=False, strip=False)
    confirm = forms.CharField(required=False)

    def __init__(self, *args, into: Person, **kwargs):
        super().__init__(*args, **kwargs)
        self.into = into

    def clean_other(self) -> Person:
        other = person_from_text(self.cleaned_data["other"])
        if other is None or not selectors.merge_candidates(self.into).filter(pk=other.pk).exists():
            raise ValidationError(self._CHOOSE)
        return other

    @property
    def confirmed(self) -> bool:
        """Whether the reviewer saw both people's faces and confirmed (the second step)."""
        return self.cleaned_data.get("confirm") == "yes"


class AssignFaceForm(_FirstError, forms.Form):
    """The person an unassigned face is given to."""

    person = forms.CharField(required=False, strip=False)

    def clean_person(self) -> Person:
        person = person_from_text(self.cleaned_data["person"])
        if person is None:
            raise ValidationError("Choose the person to assign the face to from the list.")
        return person


class AuditVerifyForm(forms.Form):
    """An export file to check (without one, the page checks the whole chain)."""

    export = _File()


class ReceiptVerifyForm(_FirstError, forms.Form):
    """A downloaded erasure receipt (JSON); cleaned, ``receipt`` is its document."""

    MAX_BYTES = 1_000_000
    receipt = _File()
    file_name = ""  # the uploaded file's name, for the page's report

    def clean_receipt(self) -> dict:
        upload = self.cleaned_data["receipt"]
        if upload is None:
            raise ValidationError("Choose the receipt file (JSON) to check.")
        self.file_name = upload.name
        if upload.size > self.MAX_BYTES:
            raise ValidationError("That file is too large to be a receipt.")
        try:
            document = json.loads(upload.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValidationError("That file is not a receipt: it is not JSON.") from exc
        if not isinstance(document, dict):
            raise ValidationError("That file is not a receipt: it holds no receipt document.")
        return document


class TokenForm(forms.Form):
    """A new API token's name (the token service checks it: required, length, unique per user)."""

    name = forms.CharField(required=False, strip=False)


class RetentionPolicyForm(forms.Form):
    """The operator's change of the retention policy (both durations in whole days)."""

    unknown_face_days = forms.IntegerField()
    inactive_person_days = forms.IntegerField()

    message = "Give both durations as whole numbers of days."


class ErasureForm(forms.Form):
    """The operator's erasure request: who, why, and the explicit confirmation."""

    _CHOOSE = "Choose the person to erase."
    _CONFIRM = "Tick the box to confirm: an erasure cannot be undone."
    person_id = forms.ModelChoiceField(queryset=Person.objects.all(),
                                       error_messages={"required": _CHOOSE, "invalid_choice": _CHOOSE})
    reason = forms.CharField(required=False, strip=False)  # the service checks it (also for the API)
    confirm = forms.ChoiceField(choices=[("yes", "yes")],
                                error_messages={"required": _CONFIRM, "invalid_choice": _CONFIRM})

    def first_error(self) -> str:
        """The one message the page shows: the person first, then the confirmation."""
        for field in ("person_id", "confirm"):
            if field in self.errors:
                return self.errors[field][0]
        return ""
