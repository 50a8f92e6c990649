from django.urls import path

from access import views

app_name = "access"

urlpatterns = [
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
]
