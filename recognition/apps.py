"""The recognition app's configuration: signal receivers connected once the app registry is ready.

The imports of app modules below are inside the functions on purpose: this module is
imported while Django loads the app registry, before models may be imported.
"""

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_reference_data(sender, **kwargs):
    """Roles and the consent notice exist after every migrate and every flush (test databases too)."""
    from recognition.notices import publish_notice  # app modules: see the module docstring
    from recognition.roles import sync_roles

    sync_roles()
    publish_notice("1")


def _grant_app_role(sender, using="default", **kwargs):
    """New tables from later migrations reach the application role too; the log stays INSERT-only."""
    from recognition.dbroles import grant_app_role  # app modules: see the module docstring

    grant_app_role(connections[using])


class RecognitionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recognition"
    verbose_name = "Face recognition"

    def ready(self):
        post_migrate.connect(_ensure_reference_data, sender=self)
        post_migrate.connect(_grant_app_role, sender=self)
        from recognition import signals  # noqa: F401 - sign-in, sign-out and failures go to the access log
