"""The Celery application. Workers: ``celery -A faceweb worker``; beat: ``celery -A faceweb beat``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "faceweb.settings")

app = Celery("faceweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
