from django.urls import path

from feedback import manage_views

app_name = "feedback_programme"

urlpatterns = [path("<slug:slug>/health/", manage_views.health, name="health")]
