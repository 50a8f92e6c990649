from django.urls import path

from access import token_views

app_name = "tokens"

urlpatterns = [
    path("", token_views.token_list, name="list"),
    path("<int:token_id>/rotate/", token_views.token_rotate_view, name="rotate"),
    path("<int:token_id>/delete/", token_views.token_delete_view, name="delete"),
]
