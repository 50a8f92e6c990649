from django.urls import path

from generation import library_views, preset_views, progress, views

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
    # The person's library: favourites, collections, and two clips compared (generation/library_views.py).
    path("<uuid:job_id>/favourite/", library_views.favourite_set, name="favourite_set"),
    path("<uuid:job_id>/collections/add/", library_views.clip_collection_add, name="clip_collection_add"),
    path(
        "<uuid:job_id>/collections/<int:collection_id>/remove/",
        library_views.clip_collection_remove,
        name="clip_collection_remove",
    ),
    path("collections/", library_views.collection_list, name="collection_list"),
    path("collections/<int:collection_id>/", library_views.collection_detail, name="collection_detail"),
    path("collections/<int:collection_id>/rename/", library_views.collection_rename, name="collection_rename"),
    path("collections/<int:collection_id>/delete/", library_views.collection_delete, name="collection_delete"),
    path("compare/", library_views.compare_pick, name="compare_pick"),
    path("compare/<uuid:left_id>/<uuid:right_id>/", library_views.compare, name="compare"),
]
