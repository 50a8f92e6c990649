from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from access.api import AuditEventViewSet
from access.sign_in import sign_in_page
from competition.api import CallViewSet, ReviewViewSet, SubmissionViewSet
from config import health, landing
from core.errors import too_large
from core.hot_reads import one_row
from feedback.api import ClipRatingViewSet, LedgerViewSet, ReportViewSet
from generation import progress
from generation.api import CollectionViewSet, ModelViewSet, PresetViewSet, QuotaView, RenderJobViewSet, UploadView
from generation.trace_api import TraceView

router = DefaultRouter()
router.register("jobs", RenderJobViewSet, basename="job")
router.register("models", ModelViewSet, basename="model")
router.register("audit", AuditEventViewSet, basename="audit")
router.register("presets", PresetViewSet, basename="preset")
router.register("collections", CollectionViewSet, basename="collection")
router.register("feedback/ratings", ClipRatingViewSet, basename="feedback-rating")
router.register("feedback/reports", ReportViewSet, basename="feedback-report")
router.register("feedback/ledger", LedgerViewSet, basename="feedback-ledger")
router.register("competition/calls", CallViewSet, basename="competition-call")
router.register("competition/submissions", SubmissionViewSet, basename="competition-submission")
router.register("competition/reviews", ReviewViewSet, basename="competition-review")


def healthz(request):
    one_row("SELECT 1")  # served on the lean path (config/lean.py), like the progress polls
    return JsonResponse({"status": "ok"})


# Django's own error pages; on an /api/ path core.errors.ApiErrorsAsJsonMiddleware answers them as the API's
# JSON error body instead, in every mode.
def handler400(request, exception=None):
    """A body over the size limit, found while a middleware read the form, is a 413 that says the limit."""
    if isinstance(exception, RequestDataTooBig):
        return too_large(request)
    return defaults.bad_request(request, exception)


handler403 = defaults.permission_denied
handler404 = defaults.page_not_found
handler500 = defaults.server_error


# Swagger UI and Redoc come from our own static files (drf-spectacular-sidecar), so they work offline and under
# the site's CSP; Swagger UI's set-up script is served by the same view (?script) rather than inline. Redoc
# writes its styles into <style> elements and runs its search in a blob: worker, so its page alone allows those
# (scripts stay our own files).
api_docs = SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api_docs.html")
api_redoc = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
    SpectacularRedocView.as_view(url_name="api-schema", template_name="api_redoc.html")
)

# A programme's admin area, /manage/<slug>/: every app's pages for one programme, composed here and only here.
# Each app's paths are its own (no two apps share one), so the order below does not matter.
programme_manage = [
    path("", include("access.manage_urls")),
    path("", include("generation.manage_urls")),
    path("feedback/", include("feedback.manage_urls")),
    path("competition/", include("competition.manage_urls")),
]

urlpatterns = [
    path("", landing.home, name="home"),
    path("clips/", include("generation.urls")),
    path("staff/queue/", include("generation.staff_urls")),  # before 2026-12 at /manage/queue/ (config/moved.py)
    path("staff/programmes/", include("access.staff_urls")),  # the operator's programme console
    path("manage/<slug:slug>/", include(programme_manage)),
    path("feedback/", include("feedback.urls")),
    path("accounts/login/", sign_in_page, name="sign_in"),  # allauth's, answering 429 while locked out
    path("competition/", include("competition.urls")),
    path("reviews/", include("competition.review_urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("access.urls")),
    path("account/tokens/", include("access.token_urls")),
    path("account/", include("access.account_urls")),
    path("leak-alerts/trace/", include("generation.trace_urls")),
    path("leak-alerts/", include("access.leak_urls")),
    path("terms/", include("access.terms_urls")),
    path("programmes/", include("access.programme_urls")),
    path("programmes/", include("feedback.programme_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/quota/", QuotaView.as_view(), name="api-quota"),
    path("api/v1/uploads/", UploadView.as_view(), name="api-uploads"),
    path("api/v1/jobs/<uuid:job_id>/progress/", progress.api_job_progress, name="api-job-progress"),
    path("api/v1/traces/", TraceView.as_view(), name="api-traces"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/redoc/", api_redoc, name="api-redoc"),
    path("healthz", healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
]
