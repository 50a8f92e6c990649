from django.urls import path

from competition import views

app_name = "competition"

urlpatterns = [
    path("", views.call_list, name="calls"),
    path("<int:call_id>/", views.call_detail, name="call"),
    path("<int:call_id>/entry-status/", views.entry_status, name="entry_status"),
    path("<int:call_id>/appeal/", views.appeal, name="appeal"),
    path("<int:call_id>/results/", views.results, name="results"),
    path("films/<str:token>/", views.film, name="film"),
]
