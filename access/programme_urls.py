from django.urls import path

from access import programme_views

app_name = "programmes"

urlpatterns = [path("<slug:programme>/rates/", programme_views.rates, name="rates")]
