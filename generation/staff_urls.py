from django.urls import path

from generation import staff_views

app_name = "generation_staff"

urlpatterns = [
    path("", staff_views.queue, name="queue"),
    path("jobs/<uuid:job_id>/", staff_views.queue_job_action, name="queue_job_action"),
    path("workers/<int:worker_id>/reset/", staff_views.worker_health_reset, name="worker_health_reset"),
]
