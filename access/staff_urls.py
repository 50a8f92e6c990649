"""Under /staff/programmes/ (composed in config/urls.py): the operator's programme console."""

from django.urls import path

from access import manage_views

app_name = "access_staff"

urlpatterns = [
    path("", manage_views.programme_console, name="programmes"),
]
