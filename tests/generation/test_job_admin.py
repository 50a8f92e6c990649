"""The Django admin's job list: read-only, and a job's row can never be deleted there (it is kept for
quota, audit and leak tracing; owners delete their clips from the gallery, which keeps the row); its count
stops at a cap, and skips counting where the planner expects far more rows than that."""

from urllib.parse import quote_plus

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from generation import admin as admin_module
from generation.models import RenderJob
from tests.conftest import with_totp
from tests.factories import RenderJobFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client():
    client = Client()
    client.force_login(with_totp(UserFactory(is_staff=True, is_superuser=True)))
    return client


def test_even_a_superuser_cannot_delete_a_job_in_the_admin(superuser_client, tester):
    job = RenderJobFactory(owner=tester, state=RenderJob.State.SUCCEEDED)

    listing = superuser_client.get("/admin/generation/renderjob/")
    assert listing.status_code == 200 and str(job.pk) in listing.content.decode()
    assert "action-checkbox" not in listing.content.decode() and "delete_selected" not in listing.content.decode()
    assert superuser_client.get(f"/admin/generation/renderjob/{job.pk}/delete/").status_code == 403
    assert superuser_client.post(f"/admin/generation/renderjob/{job.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = superuser_client.post(
        "/admin/generation/renderjob/", {"action": "delete_selected", "_selected_action": [job.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert RenderJob.objects.filter(pk=job.pk).exists()


def test_the_job_list_shows_each_owner_at_the_same_queries_for_more_rows(superuser_client, tester, tester2):
    for owner in (tester, tester2):
        RenderJobFactory(owner=owner)
    superuser_client.get("/admin/generation/renderjob/")
    with CaptureQueriesContext(connection) as few:
        superuser_client.get("/admin/generation/renderjob/")
    jobs = [RenderJobFactory(owner=(tester, tester2)[index % 2]) for index in range(10)]

    with CaptureQueriesContext(connection) as many:
        html = superuser_client.get("/admin/generation/renderjob/").content.decode()

    assert len(many) == len(few)
    assert all(str(job.pk) in html for job in jobs)
    assert str(tester) in html and str(tester2) in html  # their names, as the owner column shows people


class _Counted(admin_module.CappedCountPaginator):
    COUNT_CAP = 5


def test_the_count_stops_at_the_cap_and_trusts_a_planner_expecting_many_more_rows(tester, monkeypatch):
    for _ in range(7):
        RenderJobFactory(owner=tester)
    jobs = RenderJob.objects.order_by("-queued_at")
    monkeypatch.setattr(admin_module, "planned_rows", lambda queryset: None)
    assert _Counted(jobs, 2).count == 5 and _Counted(jobs.filter(state="failed"), 2).count == 0

    monkeypatch.setattr(admin_module, "planned_rows", lambda queryset: 1_000_000)
    with CaptureQueriesContext(connection) as queries:
        assert _Counted(jobs.filter(state="failed"), 2).count == 5
    assert not any("COUNT" in query["sql"] for query in queries.captured_queries)

    monkeypatch.setattr(admin_module, "planned_rows", lambda queryset: 19)  # under ESTIMATE_MARGIN times the cap
    assert _Counted(jobs.filter(state="failed"), 2).count == 0


def test_a_search_is_counted_whatever_the_planner_expects(superuser_client, tester, monkeypatch):
    RenderJobFactory(owner=tester, prompt="a red fox")
    monkeypatch.setattr(admin_module, "planned_rows", lambda queryset: 10**9)

    found = superuser_client.get("/admin/generation/renderjob/?q=fox").content.decode()
    everything = superuser_client.get("/admin/generation/renderjob/").content.decode()

    assert "1 render job" in found
    assert "10000 render jobs" in everything


def test_the_planner_estimate_is_postgresqls_own(tester):
    RenderJobFactory(owner=tester)
    rows = admin_module.planned_rows(RenderJob.objects.all())
    if connection.vendor == "postgresql":
        assert isinstance(rows, int) and rows >= 0
    else:
        assert rows is None


def test_each_rows_link_keeps_the_lists_filters_as_djangos_admin_writes_them(superuser_client, tester):
    job = RenderJobFactory(owner=tester, state=RenderJob.State.QUEUED)
    change = f"/admin/generation/renderjob/{job.pk}/change/"
    for query, preserved in (
        ("", ""),
        ("?state__exact=queued&model_key=ltx-video", "state__exact=queued&model_key=ltx-video"),
    ):
        html = superuser_client.get(f"/admin/generation/renderjob/{query}").content.decode()
        filters = f"_changelist_filters={quote_plus(preserved)}" if preserved else ""
        expected = add_preserved_filters({"preserved_filters": filters, "opts": RenderJob._meta}, change)
        assert f'href="{escape(expected)}"' in html, query


def test_the_job_list_goes_without_the_side_bar_of_every_model(superuser_client, tester):
    RenderJobFactory(owner=tester)

    jobs = superuser_client.get("/admin/generation/renderjob/").content.decode()
    workers = superuser_client.get("/admin/generation/worker/").content.decode()

    assert 'id="nav-sidebar"' not in jobs and 'href="/admin/"' in jobs  # the breadcrumbs lead home
    assert 'id="nav-sidebar"' in workers


def test_the_rows_are_djangos_own(superuser_client, tester, tester2, monkeypatch):
    """The rows built a column at a time (generation/templatetags/job_admin_tags.py) are the markup Django's admin
    builds a cell at a time: every state, a job never run (no GPU seconds), an owner whose name needs escaping,
    and the filters each row's link keeps."""
    tester2.display_name = 'Ann <b>"O\'Neil"</b> & co'
    tester2.save()
    for index, state in enumerate(RenderJob.State.values):
        RenderJobFactory(
            owner=(tester, tester2)[index % 2],
            state=state,
            model_key=("ltx-video", "cogvideox-2b")[index % 2],
            gpu_seconds=None if state == RenderJob.State.QUEUED else 12.5 * index,
            progress_step=index,
        )
    job_admin = admin.site._registry[RenderJob]

    for query in ("", "?p=1", "?state__exact=queued", "?model_key=cogvideox-2b&o=3"):
        ours = _rows(superuser_client.get(f"/admin/generation/renderjob/{query}"))
        monkeypatch.setattr(job_admin, "change_list_template", "admin/change_list.html")
        djangos = _rows(superuser_client.get(f"/admin/generation/renderjob/{query}"))
        monkeypatch.undo()
        assert ours == djangos and ours.count("<tr>") >= 1, query


def _rows(response) -> str:
    html = response.content.decode()
    return html[html.index("<tbody>") : html.index("</tbody>")]
