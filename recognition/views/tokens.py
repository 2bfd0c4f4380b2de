"""The API tokens page: a signed-in user creates (the key is shown once) and revokes their tokens.

An HTML page like the others (its URL stays under /api/v1/tokens/manage/, beside the API
it serves); the token rules themselves are in recognition.api.tokens.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from recognition.api import tokens
from recognition.exceptions import ServiceError


@login_required
@require_http_methods(["GET", "POST"])
def token_page(request):
    """The page where a signed-in user creates (the key is shown once) and revokes their tokens."""
    new_key = None
    if request.method == "POST":
        try:
            new_key = tokens.create_token(user=request.user, name=request.POST.get("name", "")).key
        except ServiceError as exc:
            messages.error(request, exc.message)
    return render(request, "api/tokens.html", {
        "tokens": tokens.tokens_for(request.user), "new_key": new_key,
        "api_base": request.build_absolute_uri("/api/v1/"),
    }, status=200 if new_key or request.method == "GET" else 400)


@login_required
@require_POST
def token_revoke_page(request, token_id: int):
    token = tokens.revoke_token(token=tokens.token_for(request.user, token_id))
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("api-tokens")
