from django.urls import path

from access import manage_views, views

app_name = "access"

urlpatterns = [
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
    # The programmes a person administers; each programme's own pages are in access/manage_urls.py.
    path("manage/", manage_views.manage_index, name="manage_index"),
]
