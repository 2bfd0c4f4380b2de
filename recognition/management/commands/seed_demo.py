"""``manage.py seed_demo``: one demo account per role, for development only.

Idempotent: running it again resets the same accounts to the same passwords and roles.
It refuses to run in production (``DEBUG`` off and real ``DATABASE_URL``/``REDIS_URL``),
because the passwords are printed and known to everyone who reads this file.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from recognition.roles import ALL_ROLES

# Development-only credentials: username "demo-<role>", password "<role>-demo-password".
DEMO_ACCOUNTS = {role: (f"demo-{role}", f"{role}-demo-password") for role in ALL_ROLES}


class Command(BaseCommand):
    help = "Create (or reset) one demo account per role and print the credentials. Development only."

    def handle(self, *args, **options):
        if not settings.DEBUG and not settings.EMBEDDED_SERVICES:
            raise CommandError("seed_demo creates accounts with published passwords: it runs only with "
                               "DEBUG=1 or the embedded development services, never in production.")
        with transaction.atomic():
            for role, (username, password) in DEMO_ACCOUNTS.items():
                group = Group.objects.filter(name=role).first()
                if group is None:
                    raise CommandError(f"role group {role!r} is missing: run `manage.py migrate` first.")
                user, _ = User.objects.get_or_create(username=username)
                user.set_password(password)
                user.is_active = True
                user.is_staff = user.is_superuser = False
                user.save()
                user.groups.set([group])
        self.stdout.write(self.style.WARNING("Demo accounts (development only, do not use in production):"))
        for role, (username, password) in DEMO_ACCOUNTS.items():
            self.stdout.write(f"  {role:<9} username: {username:<16} password: {password}")
