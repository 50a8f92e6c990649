from django.urls import path

from competition import manage_views

app_name = "competition_manage"

urlpatterns = [
    path("", manage_views.calls, name="calls"),
    path("<int:call_id>/", manage_views.call_detail, name="call"),
    path("<int:call_id>/edit/", manage_views.call_edit, name="call_edit"),
    path("<int:call_id>/announce/", manage_views.call_announce, name="announce"),
    path("<int:call_id>/criteria/", manage_views.criterion_save, name="criterion_add"),
    path("<int:call_id>/criteria/<int:criterion_id>/", manage_views.criterion_save, name="criterion_edit"),
    path("<int:call_id>/criteria/<int:criterion_id>/remove/", manage_views.criterion_remove, name="criterion_remove"),
    path("<int:call_id>/assign/", manage_views.assign, name="assign"),
    path("<int:call_id>/publish/", manage_views.publish, name="publish"),
    path("<int:call_id>/appeals/<int:appeal_id>/answer/", manage_views.appeal_answer, name="appeal_answer"),
]
