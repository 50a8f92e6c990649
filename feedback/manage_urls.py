from django.urls import path

from feedback import manage_views

app_name = "feedback_manage"

urlpatterns = [
    path("", manage_views.triage_queue, name="queue"),
    path("reports/<int:report_id>/state/", manage_views.report_transition, name="report_transition"),
    path("reports/<int:report_id>/assign/", manage_views.report_assign, name="report_assign"),
    path("ratings/", manage_views.ratings, name="ratings"),
    path("ratings/export.csv", manage_views.ratings_export, name="ratings_export"),
    path("ratings/<int:rating_id>/decide/", manage_views.rating_decide, name="rating_decide"),
    path("payouts/", manage_views.payout_list, name="payouts"),
    path("payouts/<int:payout_id>.csv", manage_views.payout_export, name="payout_export"),
    path("people/<int:user_id>/ledger/", manage_views.person_ledger, name="person_ledger"),
    path("showcase/", manage_views.showcase_list, name="showcase"),
    path("showcase/<int:offer_id>/use/", manage_views.showcase_use, name="showcase_use"),
    path("versions/", manage_views.versions, name="versions"),
    path("settings/", manage_views.programme_settings, name="settings"),
]
