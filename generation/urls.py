from django.urls import path

from generation import views

app_name = "generation"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("new/", views.job_create, name="job_create"),
    path("new/estimate/", views.job_estimate, name="job_estimate"),
    path("<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("<uuid:job_id>/status/", views.job_status, name="job_status"),
    path("<uuid:job_id>/card/", views.job_card, name="job_card"),
    path("<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("<uuid:job_id>/delete/", views.job_delete, name="job_delete"),
    path("<uuid:job_id>/video.mp4", views.job_video, name="job_video"),
    path("media/<str:token>/", views.media, name="media"),
]
