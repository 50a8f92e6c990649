from django.urls import path

from access import account_views

app_name = "account_pages"

urlpatterns = [
    path("", account_views.account_index, name="index"),
    path("export/", account_views.export_download, name="export"),
]
