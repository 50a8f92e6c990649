from django.urls import path

from feedback import manage_views

app_name = "feedback_manage"

urlpatterns = [
    path("", manage_views.triage_queue, name="queue"),
]
