from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from faceweb.health import healthz, healthz_detail

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("healthz/detail", healthz_detail, name="healthz-detail"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.ico"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("recognition.api.urls")),
    path("review/", include("recognition.urls_review")),
    path("compliance/", include("recognition.urls_compliance")),
    path("", include("recognition.urls")),
]

# The app's own pages for 403 (naming the role needed), 404 and 500 when DEBUG is off.
handler403 = "recognition.views.errors.permission_denied"
handler404 = "recognition.views.errors.page_not_found"
handler500 = "recognition.views.errors.server_error"
