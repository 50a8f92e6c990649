from django.urls import path

from feedback import views

app_name = "feedback"

urlpatterns = [
    path("", views.my_reports, name="my_reports"),
    path("statement/", views.statement, name="statement"),
    path("notifications/", views.notifications, name="notifications"),
    path("clips/<uuid:job_id>/rate/", views.clip_rate, name="clip_rate"),
    path("clips/<uuid:job_id>/bug/", views.clip_report, {"kind": "bug"}, name="clip_bug"),
    path("clips/<uuid:job_id>/finding/", views.clip_report, {"kind": "finding"}, name="clip_finding"),
    path("clips/<uuid:job_id>/showcase/", views.clip_showcase, name="clip_showcase"),
    path("bugs/new/", views.report_new, {"kind": "bug"}, name="bug_new"),
    path("findings/new/", views.report_new, {"kind": "finding"}, name="finding_new"),
    path("reports/<int:report_id>/", views.report_detail, name="report_detail"),
    path("reports/<int:report_id>/comment/", views.report_comment, name="report_comment"),
    path("reports/<int:report_id>/clip.mp4", views.report_clip, name="report_clip"),
    path("reports/<int:report_id>/inputs/<str:which>/", views.report_input_image, name="report_input_image"),
    path("reports/<int:report_id>/source.mp4", views.report_source_clip, name="report_source_clip"),
    path("reports/<int:report_id>/attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path("releases/<int:version_id>/", views.release_notes, name="release_notes"),
]
