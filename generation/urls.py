from django.urls import path

from generation import preset_views, progress, views

app_name = "generation"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("new/", views.job_create, name="job_create"),
    path("new/estimate/", views.job_estimate, name="job_estimate"),
    path("recent/", views.job_recent, name="job_recent"),
    path("<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("<uuid:job_id>/status/", views.job_status, name="job_status"),
    path("<uuid:job_id>/progress/", progress.job_progress, name="job_progress"),
    path("<uuid:job_id>/card/", views.job_card, name="job_card"),
    path("<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("<uuid:job_id>/delete/", views.job_delete, name="job_delete"),
    path("<uuid:job_id>/video.mp4", views.job_video, name="job_video"),
    path("media/<str:token>/", views.media, name="media"),
    path("presets/", preset_views.preset_list, name="preset_list"),
    path("presets/new/", preset_views.preset_create, name="preset_create"),
    path("presets/<int:preset_id>/rename/", preset_views.preset_rename, name="preset_rename"),
    path("presets/<int:preset_id>/delete/", preset_views.preset_delete, name="preset_delete"),
]
