"""Password guessing: sign-ins locked per account and per address, on the site and the admin login.

The attacker is anonymous and sends wrong passwords; after the configured number of
failures (30) even the right password is refused until the lock period has passed. The
access log records the first failure and the lockout, not every attempt.
"""

from __future__ import annotations

from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from recognition.models import AccessEvent

PASSWORD = "pw-for-tests-only"  # conftest's make_user default
SITE, ADMIN = "/accounts/login/", "/admin/login/"


def sign_in(client, url: str, username: str, password: str, address: str = "192.0.2.10"):
    return client.post(url, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address)


def signed_in(response) -> bool:
    return response.status_code == 302


def wrong_passwords(client, url: str, usernames, address: str = "192.0.2.10") -> list[int]:
    return [sign_in(client, url, name, f"guess-{n}", address).status_code for n, name in enumerate(usernames)]


def end_of_lock_period(seconds_left: int) -> None:
    """Move the recorded failures back in time, as if the lock period had (nearly) passed."""
    at = timezone.now() - settings.AXES_COOLOFF_TIME + timedelta(seconds=seconds_left)
    AccessAttempt.objects.update(attempt_time=at)


def test_the_31st_attempt_is_refused_even_with_the_right_password_for_the_lock_period(client, make_user):
    make_user("alice", "uploader")
    assert settings.AXES_FAILURE_LIMIT == 30

    answers = wrong_passwords(client, SITE, ["alice"] * 30)

    assert answers[:29] == [200] * 29  # the form again, "didn't match"
    assert answers[29] == 429  # the 30th failure locks
    refused = sign_in(client, SITE, "alice", PASSWORD)
    assert not signed_in(refused) and refused.status_code == 429
    assert b"Too many failed sign-ins" in refused.content
    # ... from another address too: the account is locked, not only the address.
    assert not signed_in(sign_in(client, SITE, "alice", PASSWORD, address="198.51.100.20"))

    end_of_lock_period(seconds_left=30)
    assert not signed_in(sign_in(client, SITE, "alice", PASSWORD))
    end_of_lock_period(seconds_left=-1)
    assert signed_in(sign_in(client, SITE, "alice", PASSWORD))


def test_one_address_guessing_many_accounts_is_locked_out_for_every_account(client, make_user):
    make_user("bob", "uploader")

    wrong_passwords(client, SITE, [f"user{n}" for n in range(30)], address="203.0.113.5")

    assert not signed_in(sign_in(client, SITE, "bob", PASSWORD, address="203.0.113.5"))
    assert signed_in(sign_in(client, SITE, "bob", PASSWORD, address="198.51.100.20"))  # bob, elsewhere


def test_the_admin_login_is_locked_the_same_way(client, db):
    User.objects.create_superuser("root", password=PASSWORD)

    wrong_passwords(client, ADMIN, ["root"] * 30)

    refused = sign_in(client, ADMIN, "root", PASSWORD)
    assert refused.status_code == 429 and "_auth_user_id" not in client.session


def test_a_forged_forwarded_for_does_not_escape_the_address_lock(client, make_user):
    make_user("bob", "uploader")
    for n in range(30):
        client.post(SITE, {"username": f"user{n}", "password": "guess"}, REMOTE_ADDR="203.0.113.5",
                    HTTP_X_FORWARDED_FOR=f"10.9.8.{n}")

    response = client.post(SITE, {"username": "bob", "password": PASSWORD}, REMOTE_ADDR="203.0.113.5",
                           HTTP_X_FORWARDED_FOR="10.9.8.200")
    assert not signed_in(response)


def test_failed_sign_ins_are_logged_without_an_access_log_entry_per_attempt(client, make_user):
    make_user("alice", "uploader")

    wrong_passwords(client, SITE, ["alice"] * 45)  # 30 until the lockout, then 15 refused

    events = list(AccessEvent.objects.filter(action__startswith="auth.").order_by("id")
                  .values_list("action", "detail"))
    assert events == [("auth.login_failed", {"username": "alice"}),
                      ("auth.lockout", {"username": "alice", "failures": 30})]
    # Every attempt is still counted, per account and address, outside the hash chain.
    assert AccessAttempt.objects.get(username="alice").failures_since_start == 30
