"""URLs of the compliance area (included from faceweb/urls.py)."""

urlpatterns: list = []
