"""Template context for every page: the user's role, capabilities (from recognition.roles) and navigation."""

from django.urls import reverse

from recognition import roles as role_rules

# The top navigation: (label, URL name, capability needed or None for everyone signed in).
_NAV = (
    ("Photos", "photos", "upload"),
    ("Consent", "consent", "consent"),
    ("Review", "review-queue", "review"),
    ("People", "people", "review"),
    ("Statistics", "stats", "review"),
    ("Access log", "audit-log", "audit"),
    ("Abuse signals", "abuse-signals", "audit"),
    ("Erasure", "erasure", "erase"),
    ("Retention policy", "retention-policy", None),
    ("API tokens", "api-tokens", None),
)


def _nav(request, can: dict[str, bool]) -> list[dict]:
    """The links this user may follow; the one whose URL is the longest prefix of this page is current."""
    links = [{"label": label, "url": reverse(name), "current": False}
             for label, name, capability in _NAV if capability is None or can[capability]]
    path = getattr(request, "path", "")
    matching = [link for link in links if path.startswith(link["url"])]
    if matching:
        max(matching, key=lambda link: len(link["url"]))["current"] = True
    return links


def roles(request):
    """``role``, ``can`` (``can.review``...: :data:`recognition.roles.CAPABILITIES`) and ``nav``."""
    user = getattr(request, "user", None)
    can = role_rules.capabilities(user)
    signed_in = bool(user and user.is_authenticated)
    return {"role": role_rules.role_of(user), "can": can, "nav": _nav(request, can) if signed_in else []}
