from django.urls import path

from generation import trace_views

app_name = "trace"

urlpatterns = [
    path("", trace_views.clip_trace, name="upload"),
]
