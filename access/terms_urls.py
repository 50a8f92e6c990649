from django.urls import path

from access import terms_views

app_name = "terms"

urlpatterns = [path("<slug:programme>/", terms_views.terms_answer, name="answer")]
