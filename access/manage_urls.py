"""Under /manage/<slug>/ (composed in config/urls.py): the programme, its people, cohorts (and their grants),
invitations, pauses and audit trail."""

from django.urls import path

from access import manage_views

app_name = "access_manage"

urlpatterns = [
    path("", manage_views.manage_programme, name="programme"),
    path("models/", manage_views.programme_models, name="models"),
    path("pause/", manage_views.programme_pause, name="pause"),
    path("resume/", manage_views.programme_resume, name="resume"),
    path("suspensions/<int:suspension_id>/lift/", manage_views.suspension_lift, name="lift"),
    path("invitations/", manage_views.invitations, name="invitations"),
    path("invitations/<int:invitation_id>/resend/", manage_views.invitation_resend, name="invitation_resend"),
    path("invitations/<int:invitation_id>/revoke/", manage_views.invitation_revoke, name="invitation_revoke"),
    path("people/<int:user_id>/", manage_views.person, name="person"),
    path("people/<int:user_id>/grant/", manage_views.person_grant, name="person_grant"),
    path("people/<int:user_id>/suspend/", manage_views.person_suspend, name="person_suspend"),
    path("cohorts/", manage_views.cohort_new, name="cohort_new"),
    path("cohorts/<slug:cohort_slug>/", manage_views.cohort, name="cohort"),
    path("cohorts/<slug:cohort_slug>/grant/", manage_views.cohort_grant, name="cohort_grant"),
    path("cohorts/<slug:cohort_slug>/suspend/", manage_views.cohort_suspend, name="cohort_suspend"),
    path("audit/", manage_views.audit_trail, name="audit"),
    path("audit/export.csv", manage_views.audit_export, name="audit_export"),
]
