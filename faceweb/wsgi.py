import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from recognition.uploads import RequestBodyLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "faceweb.settings")
# A body declared larger than REQUEST_MAX_BYTES is refused before gunicorn reads it.
application = RequestBodyLimit(get_wsgi_application(), settings.REQUEST_MAX_BYTES)
