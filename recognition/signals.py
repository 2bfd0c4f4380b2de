"""Sign-in, sign-out and failed sign-ins go to the access log (connected in RecognitionConfig.ready).

Failed sign-ins are aggregated so that anonymous traffic cannot append to the access log
(and take its chain lock) once per attempt: django-axes counts every failure per account
and per address in its own table (``axes.AccessAttempt``, in the admin); the log gets the
first failure of an account or address and the lockout when the limit is reached. While
locked out, further attempts are refused without an entry.
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from recognition.access import Access
from recognition.audit import log_access


@receiver(user_logged_in, dispatch_uid="faceweb.audit.login")
def log_sign_in(sender, request, user, **kwargs):
    log_access(action="auth.login", actor=user, access=Access.of(request), obj=user, object_type="user",
               purpose="authentication")


@receiver(user_logged_out, dispatch_uid="faceweb.audit.logout")
def log_sign_out(sender, request, user, **kwargs):
    # ``user`` is None when the session had nobody signed in: nothing to record then.
    if user is not None:
        log_access(action="auth.logout", actor=user, access=Access.of(request), obj=user, object_type="user",
                   purpose="authentication")


@receiver(user_login_failed, dispatch_uid="faceweb.audit.login_failed")
def log_failed_sign_in(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in ``credentials``; keep only the name tried.
    username = str(credentials.get("username", ""))[:150]
    # Set by axes' handler, which runs first ("axes" is installed before "recognition").
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        if getattr(request, "axes_locked_out", False):
            return  # refused while locked out: counted by axes, already logged at the lockout
        failures = 1  # no request (a command): nothing is counted, log it
    if getattr(request, "axes_locked_out", False):
        log_access(action="auth.lockout",
                   access=Access.of(request), object_type="user", purpose="authentication",
                   detail={"username": username, "failures": failures})
    elif failures == 1:
        log_access(action="auth.login_failed",
                   access=Access.of(request), object_type="user", purpose="authentication",
                   detail={"username": username})
