"""URLs of the REST API v1 (included from faceweb/urls.py under /api/v1/)."""

urlpatterns: list = []
