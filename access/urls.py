from django.urls import path

from access import manage_views, views

app_name = "access"

urlpatterns = [
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
    # Programme admin pages.
    path("manage/", manage_views.manage_index, name="manage_index"),
    path("manage/<slug:slug>/", manage_views.manage_programme, name="manage_programme"),
    path("manage/<slug:slug>/models/", manage_views.programme_models, name="manage_models"),
    path("manage/<slug:slug>/pause/", manage_views.programme_pause, name="manage_pause"),
    path("manage/<slug:slug>/resume/", manage_views.programme_resume, name="manage_resume"),
    path("manage/<slug:slug>/suspensions/<int:suspension_id>/lift/", manage_views.suspension_lift, name="manage_lift"),
    path("manage/<slug:slug>/invitations/", manage_views.invitations, name="manage_invitations"),
    path(
        "manage/<slug:slug>/invitations/<int:invitation_id>/resend/",
        manage_views.invitation_resend,
        name="manage_invitation_resend",
    ),
    path(
        "manage/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        manage_views.invitation_revoke,
        name="manage_invitation_revoke",
    ),
    path("manage/<slug:slug>/people/<int:user_id>/", manage_views.person, name="manage_person"),
    path("manage/<slug:slug>/people/<int:user_id>/grant/", manage_views.person_grant, name="manage_person_grant"),
    path("manage/<slug:slug>/people/<int:user_id>/suspend/", manage_views.person_suspend, name="manage_person_suspend"),
    path("manage/<slug:slug>/cohorts/<slug:cohort_slug>/", manage_views.cohort, name="manage_cohort"),
    path(
        "manage/<slug:slug>/cohorts/<slug:cohort_slug>/suspend/",
        manage_views.cohort_suspend,
        name="manage_cohort_suspend",
    ),
    path("manage/<slug:slug>/audit/", manage_views.audit_trail, name="manage_audit"),
    path("manage/<slug:slug>/audit/export.csv", manage_views.audit_export, name="manage_audit_export"),
]
