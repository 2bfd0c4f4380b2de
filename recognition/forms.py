"""Django forms of the HTML pages that take input: they parse and check the request; services decide.

A form turns POST data into typed values with a message a person can act on; the rules
of the domain (how long retention may be, what a reason must say) stay in the services,
which the API shares. Only views import this module.
"""

from __future__ import annotations

from django import forms

from recognition.models import Person


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
