"""Template context for every page: the user's role and capabilities (from recognition.roles)."""

from recognition import roles as role_rules


def roles(request):
    """``role`` and ``can`` (``can.review``, ``can.merge``...: :data:`recognition.roles.CAPABILITIES`)."""
    user = getattr(request, "user", None)
    return {"role": role_rules.role_of(user), "can": role_rules.capabilities(user)}
