"""``Authorization: Token <key>``: personal tokens looked up by their sha256."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from recognition.api.tokens import authenticate_key


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None  # not ours: maybe the session
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid Authorization header: use 'Token <key>'.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeError as exc:
            raise AuthenticationFailed("Invalid token: it contains characters a token never has.") from exc
        token = authenticate_key(key)
        if token is None:
            raise AuthenticationFailed("Invalid or revoked token.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to requests without credentials.
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "recognition.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>`: create a token on the API tokens page; it is shown once."}
