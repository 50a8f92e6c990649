from django.urls import path

from access import leak_views

app_name = "leaks"

urlpatterns = [
    path("", leak_views.alert_list, name="list"),
    path("<int:alert_id>/decide/", leak_views.alert_decide_view, name="decide"),
]
