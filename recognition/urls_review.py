"""URLs of the review area (included from faceweb/urls.py)."""

urlpatterns: list = []
