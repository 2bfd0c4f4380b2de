"""Sign-in, sign-out and failed sign-in go to the access log (connected in RecognitionConfig.ready)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from recognition.audit import log_access


@receiver(user_logged_in, dispatch_uid="faceweb.audit.login")
def log_sign_in(sender, request, user, **kwargs):
    log_access(action="auth.login", actor=user, request=request, obj=user, object_type="user",
               purpose="authentication")


@receiver(user_logged_out, dispatch_uid="faceweb.audit.logout")
def log_sign_out(sender, request, user, **kwargs):
    # ``user`` is None when the session had nobody signed in: nothing to record then.
    if user is not None:
        log_access(action="auth.logout", actor=user, request=request, obj=user, object_type="user",
                   purpose="authentication")


@receiver(user_login_failed, dispatch_uid="faceweb.audit.login_failed")
def log_failed_sign_in(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in ``credentials``; keep only the name tried.
    username = str(credentials.get("username", ""))[:150]
    log_access(action="auth.login_failed", request=request, object_type="user", purpose="authentication",
               detail={"username": username})
