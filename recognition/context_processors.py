from recognition import roles as role_rules


def roles(request):
    """Template context: the user's role and what they may do (for navigation only)."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {"role": "anonymous", "can": {}}
    return {
        "role": role_rules.role_of(user),
        "can": {
            "upload": user.has_perm(role_rules.CAN_UPLOAD),
            "review": user.has_perm(role_rules.CAN_REVIEW),
            "audit": user.has_perm(role_rules.CAN_AUDIT),
            "erase": user.has_perm(role_rules.CAN_ERASE),
        },
    }
