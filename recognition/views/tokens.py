"""The API tokens page: a signed-in user creates (the key is shown once) and revokes their tokens.

An HTML page like the others (its URL stays under /api/v1/tokens/manage/, beside the API
it serves); the token rules themselves are in recognition.api.tokens.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from recognition import roles
from recognition.api import tokens
from recognition.exceptions import ServiceError
from recognition.forms import TokenForm

# Examples on the page, by the capability they need: each works for a role that has it.
# (what it does, HTTP method, path under /api/v1/, extra curl arguments)
EXAMPLES = (
    (roles.CAN_UPLOAD, "List your photos and their status", "GET", "photos/", ""),
    (roles.CAN_UPLOAD, "Identify the faces in a photo (wait up to 10 s)", "POST", "identify/?wait=10",
     "-F file=@photo.jpg "),
    (roles.CAN_REVIEW, "Proposals waiting for review", "GET", "identifications/?status=pending", ""),
    (roles.CAN_REVIEW, "People, with their face counts", "GET", "people/", ""),
    (roles.CAN_AUDIT, "Failed sign-ins in the access log", "GET", "audit/events/?action=auth.login_failed",
     ""),
    (roles.CAN_VIEW_RECEIPTS, "Erasure receipts, newest first", "GET", "erasures/", ""),
)


def examples_for(user, api_base: str) -> list[dict]:
    """curl commands that work with a token of ``user`` (their role's endpoints only)."""
    return [{"title": title, "method": method, "path": path,
             "command": f'curl -H "Authorization: Token $FACEWEB_TOKEN" {extra}"{api_base}{path}"'}
            for perm, title, method, path, extra in EXAMPLES if user.has_perm(perm)]


@login_required
@require_http_methods(["GET", "POST"])
def token_page(request):
    """The page where a signed-in user creates (the key is shown once) and revokes their tokens."""
    new_key = None
    if request.method == "POST":
        form = TokenForm(request.POST)
        form.is_valid()  # always valid: the name's rules are the token service's, shared with the API
        try:
            new_key = tokens.create_token(user=request.user, name=form.cleaned_data["name"]).key
        except ServiceError as exc:
            messages.error(request, exc.message)
    api_base = request.build_absolute_uri("/api/v1/")
    return render(request, "api/tokens.html", {
        "tokens": tokens.tokens_for(request.user), "new_key": new_key, "api_base": api_base,
        "examples": examples_for(request.user, api_base),
    }, status=200 if new_key or request.method == "GET" else 400)


@login_required
@require_POST
def token_revoke_page(request, token_id: int):
    token = tokens.revoke_token(token=tokens.token_for(request.user, token_id))
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("api-tokens")
