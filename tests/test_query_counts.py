"""Every list page and list endpoint costs the same number of queries for 3 rows as for 30: none is
spent per row. Each test fills its list with 3 rows, counts the queries of one request (after a
first request, which notes the session's network), adds 27 rows, and counts again. The pins are the
counts measured for 3 rows; a list that grows a query per row, or a page that grows a query, fails."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from access.audit import audit
from access.invitations import invitations_create
from access.leaks import alert_raise
from access.models import Grant, LeakAlert, Role
from access.programmes import cohort_create, programme_create
from access.tokens import token_create
from feedback import ratings, reports
from feedback.ledger import ledger_credit
from generation import estimates, queue
from generation.models import RenderJob
from generation.presets import preset_create
from tests.conftest import member, with_totp
from tests.factories import RenderJobFactory, UserFactory, render_settings
from tests.feedback.conftest import rates  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

PRESET = render_settings()
# Every page's header asks what the person may use (access.context_processors.navigation): may they render now
# (the policy's grant with its terms, one question; the suspension question is the access middleware's answer)
# and which memberships they hold.
NAV = 2
MODELS = ["ltx-video", "cogvideox-2b", "wan2.1-1.3b"]
counter = itertools.count()


def _count(client, url, django_assert_max_num_queries, pin: int) -> tuple[list[str], str]:
    estimates.fair_orders_forget()  # each counted request works the queue's places out (they are kept 2 s)
    queue.queue_board_forget()  # and the staff queue's board (kept 2 s too)
    with django_assert_max_num_queries(pin) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return [query["sql"] for query in captured.captured_queries], response.content.decode()


def assert_flat(client, url, fill, django_assert_max_num_queries, *, pin: int, marker: str):
    """``fill(n)`` adds n rows, each showing ``marker`` once on the page (or in the JSON)."""
    fill(3)
    client.get(url)  # the first request of a session notes its network
    few, body = _count(client, url, django_assert_max_num_queries, pin)
    shown = len(re.findall(marker, body))
    assert shown >= 3, f"the 3 rows are not all on {url} ({shown} shown)"
    fill(27)
    many, body = _count(client, url, django_assert_max_num_queries, pin + 100)
    assert len(re.findall(marker, body)) > shown, f"the 27 new rows are not on {url}"
    extra = "\n".join(query[:300] for query in many[len(few) :][:8])
    assert len(many) == len(few), f"{url}: {len(few)} queries for 3 rows, {len(many)} for 30; the last ones:\n{extra}"


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_for(user, scopes=("read",)) -> APIClient:
    _, token = token_create(user=user, name=f"cli-{next(counter)}", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def jobs_of(owner, count: int, states=("queued", "running", "succeeded", "failed", "cancelled"), **fields):
    """Jobs in every state and several models, so a list shows queue positions, progress and posters."""
    grant = Grant.objects.get(user=owner)
    for index in range(count):
        n, state = next(counter), states[index % len(states)]
        RenderJobFactory(
            owner=owner,
            grant=grant,
            state=state,
            model_key=MODELS[index % len(MODELS)],
            prompt=f"row-{n} a neon city",
            poster="posters/x.jpg" if state == "succeeded" else "",
            output="x.mp4" if state == "succeeded" else "",
            started_at=timezone.now() - timedelta(seconds=30) if state != "queued" else None,
            progress_step=1,
            **fields,
        )


def new_testers(programme, cohort, count: int) -> list:
    people = []
    for _ in range(count):
        email = f"row-{next(counter)}@example.org"
        people.append(member(email, programme=programme, role=Role.ARTIST, cohort=cohort))
    return people


# --- A tester's own lists --------------------------------------------------------------------------


def test_the_gallery(tester, django_assert_max_num_queries):
    assert_flat(
        browser(tester),
        "/clips/",
        lambda n: jobs_of(tester, n),
        django_assert_max_num_queries,
        pin=8 + NAV,
        marker=r"row-\d+ a neon city",
    )


def test_the_api_job_list(tester, django_assert_max_num_queries):
    assert_flat(
        api_for(tester),
        "/api/v1/jobs/",
        lambda n: jobs_of(tester, n),
        django_assert_max_num_queries,
        pin=7,  # one for every listed clip's derived clips (lineage), whatever the page's length
        marker=r"row-\d+ a neon city",
    )


def _presets(tester, programme, admin_user):
    def fill(count):
        for _ in range(count):
            n = next(counter)
            preset_create(name=f"row-{n} mine", settings=PRESET, owner=tester, actor=tester)
            preset_create(name=f"row-{n} shared", settings=PRESET, programme=programme, actor=admin_user)

    return fill


def test_the_presets_page(tester, programme, admin_user, django_assert_max_num_queries):
    assert_flat(
        browser(tester),
        "/clips/presets/",
        _presets(tester, programme, admin_user),
        django_assert_max_num_queries,
        pin=16 + NAV,
        marker=r"row-\d+ (mine|shared)",
    )


def test_the_api_preset_list(tester, programme, admin_user, django_assert_max_num_queries):
    assert_flat(
        api_for(tester),
        "/api/v1/presets/",
        _presets(tester, programme, admin_user),
        django_assert_max_num_queries,
        pin=7,
        marker=r"row-\d+ (mine|shared)",
    )


def test_the_programme_presets_page(admin_user, programme, tester, django_assert_max_num_queries):
    assert_flat(
        browser(admin_user),
        f"/manage/{programme.slug}/presets/",
        _presets(tester, programme, admin_user),
        django_assert_max_num_queries,
        pin=17 + NAV,
        marker=r"row-\d+ shared",
    )


def _reports(reporter, programme):
    def fill(count):
        for _ in range(count):
            reports.report_file(
                reporter=reporter,
                kind="bug",
                title=f"row-{next(counter)} grey frames",
                programme=programme,
                steps="render anything",
            )

    return fill


def test_my_reports(tester, programme, django_assert_max_num_queries):
    assert_flat(
        browser(tester),
        "/feedback/",
        _reports(tester, programme),
        django_assert_max_num_queries,
        pin=16 + NAV,
        marker=r"row-\d+ grey frames",
    )


def test_the_api_report_list(tester, programme, django_assert_max_num_queries):
    assert_flat(
        api_for(tester, ["feedback"]),
        "/api/v1/feedback/reports/",
        _reports(tester, programme),
        django_assert_max_num_queries,
        pin=9,
        marker=r"row-\d+ grey frames",
    )


def _ratings(tester):
    def fill(count):
        for _ in range(count):
            n = next(counter)
            job = RenderJobFactory(
                owner=tester,
                grant=Grant.objects.get(user=tester),
                state="succeeded",
                prompt=f"row-{n} rated",
                finished_at=timezone.now(),
            )
            ratings.rating_save(
                job=job,
                author=tester,
                comment=f"row-{n} rating",
                prompt_adherence=4,
                motion=3,
                visual_quality=5,
                artefacts=2,
            )

    return fill


def test_the_api_rating_list(tester, django_assert_max_num_queries):
    assert_flat(
        api_for(tester, ["feedback"]),
        "/api/v1/feedback/ratings/",
        _ratings(tester),
        django_assert_max_num_queries,
        pin=7,
        marker=r"row-\d+ rating",
    )


def _credits(tester, programme):
    """Ledger entries, each for a report an admin confirmed."""

    def fill(count):
        for _ in range(count):
            report = reports.report_file(
                reporter=tester, kind="bug", title=f"row-{next(counter)} credited", programme=programme, steps="s"
            )
            ledger_credit(
                person=tester, programme=programme, kind="bug", source=report, reason=f"{report.title} confirmed"
            )

    return fill


def test_the_statement(tester, programme, rates, django_assert_max_num_queries):  # noqa: F811
    assert_flat(
        browser(tester),
        "/feedback/statement/",
        _credits(tester, programme),
        django_assert_max_num_queries,
        pin=16 + NAV,
        marker=r"row-\d+ credited",
    )


def test_the_api_ledger_list(tester, programme, rates, django_assert_max_num_queries):  # noqa: F811
    assert_flat(
        api_for(tester, ["feedback"]),
        "/api/v1/feedback/ledger/",
        _credits(tester, programme),
        django_assert_max_num_queries,
        pin=7,
        marker=r"row-\d+ credited",
    )


# --- Staff and programme admin lists ---------------------------------------------------------------


def test_the_staff_queue(admin_user, tester, cohort, django_assert_max_num_queries):
    people = [tester, *new_testers(cohort.programme, cohort, 2)]

    def fill(count):
        for _ in range(count):
            owner = people[next(counter) % len(people)]
            jobs_of(owner, 1, states=("queued", "running"), held=next(counter) % 7 == 0)

    # 18: the page also shows the last 24 hours per model and the latest failure reasons.
    assert_flat(
        browser(admin_user), "/staff/queue/", fill, django_assert_max_num_queries, pin=18 + NAV, marker=r'<tr id="job-'
    )


def test_the_programme_dashboard_lists_its_people(admin_user, programme, cohort, django_assert_max_num_queries):
    def fill(count):
        for person in new_testers(programme, cohort, count):
            jobs_of(person, 1)

    assert_flat(
        browser(admin_user),
        f"/manage/{programme.slug}/",
        fill,
        django_assert_max_num_queries,
        pin=25 + NAV,  # 25: the count of open leak alerts about its people
        marker=r"row-\d+@example.org",
    )


def test_the_cohort_page_lists_its_members(admin_user, programme, cohort, django_assert_max_num_queries):
    assert_flat(
        browser(admin_user),
        f"/manage/{programme.slug}/cohorts/{cohort.slug}/",
        lambda n: new_testers(programme, cohort, n),
        django_assert_max_num_queries,
        pin=19 + NAV,
        marker=r"row-\d+@example.org",
    )


def test_the_programme_console(admin_user, django_assert_max_num_queries):
    operator = with_totp(UserFactory(email="ops@example.org", is_staff=True, is_superuser=True))

    def fill(count):
        for _ in range(count):
            programme = programme_create(name=f"row-{next(counter)}")
            member(f"admin-{programme.slug}@example.org", programme=programme, role=Role.ADMIN)
            cohort_create(programme=programme, name="Wave 1")

    assert_flat(
        browser(operator),
        "/staff/programmes/",
        fill,
        django_assert_max_num_queries,
        pin=17 + NAV,
        marker=r"admin-row-\d+@example.org",
    )


def test_the_invitations_page(admin_user, programme, cohort, django_assert_max_num_queries):
    def fill(count):
        emails = [f"row-{next(counter)}@example.org" for _ in range(count)]
        invitations_create(cohort=cohort, programme=programme, role=Role.ARTIST, emails=emails, actor=admin_user)

    assert_flat(
        browser(admin_user),
        f"/manage/{programme.slug}/invitations/",
        fill,
        django_assert_max_num_queries,
        pin=20 + NAV,  # 20: the blank form's first cohort, chosen so that its defaults are valid
        marker=r"row-\d+@example.org",
    )


def test_the_audit_trail(admin_user, programme, tester, django_assert_max_num_queries):
    def fill(count):
        for _ in range(count):
            audit(
                "access.grant_changed",
                actor=admin_user,
                subject=tester,
                programme=programme,
                target=f"row-{next(counter)} grant",
                reason="More seconds",
            )

    assert_flat(
        browser(admin_user),
        f"/manage/{programme.slug}/audit/",
        fill,
        django_assert_max_num_queries,
        pin=19 + NAV,
        marker=r"row-\d+ grant",
    )


def test_the_leak_alerts(admin_user, programme, cohort, django_assert_max_num_queries):
    def fill(count):
        for person in new_testers(programme, cohort, count):
            _, token = token_create(user=person, name="cli", scopes=["read"])
            alert_raise(kind=LeakAlert.Kind.NETWORKS, user=person, credential=f"session:{next(counter)}", networks=4)

    assert_flat(
        browser(admin_user),
        "/leak-alerts/",
        fill,
        django_assert_max_num_queries,
        pin=16 + NAV,
        marker=r"row-\d+@example.org",
    )


def test_the_feedback_triage_queue(admin_user, programme, cohort, django_assert_max_num_queries):
    def fill(count):
        for person in new_testers(programme, cohort, count):
            _reports(person, programme)(1)

    assert_flat(
        browser(admin_user),
        f"/manage/{programme.slug}/feedback/",
        fill,
        django_assert_max_num_queries,
        pin=19 + NAV,
        marker=r"row-\d+ grey frames",
    )


def test_the_ratings_review_page(admin_user, programme, cohort, django_assert_max_num_queries):
    def fill(count):
        for person in new_testers(programme, cohort, count):
            _ratings(person)(1)

    # One query counts the programme's admins, for what the page says of an admin's own ratings.
    assert_flat(
        browser(admin_user),
        f"/manage/{programme.slug}/feedback/ratings/",
        fill,
        django_assert_max_num_queries,
        pin=23 + NAV,
        marker=r"row-\d+ rating",
    )


def test_a_list_that_grows_a_query_per_row_fails_here(tester, django_assert_max_num_queries):
    """The check itself: a page that reads each row's owner one by one is caught."""
    from django.http import HttpResponse
    from django.test import override_settings
    from django.urls import path

    def per_row(request):
        jobs = RenderJob.objects.filter(owner=tester)
        return HttpResponse("".join(f"{job.prompt} {job.owner.email}<br>" for job in jobs))

    urlconf = type("urls", (), {"urlpatterns": [path("per-row/", per_row)]})
    with override_settings(ROOT_URLCONF=urlconf), pytest.raises(AssertionError, match="for 3 rows"):
        assert_flat(
            browser(tester),
            "/per-row/",
            lambda n: jobs_of(tester, n),
            django_assert_max_num_queries,
            pin=40,
            marker=r"row-\d+ a neon city",
        )


def test_the_benchmark_header_counts_every_query_of_a_request(tester, settings, django_assert_max_num_queries):
    """bench/load.py reads X-DB-Queries (config/query_count.py, on with BACKLOT_QUERY_COUNT_HEADER)."""
    settings.MIDDLEWARE = ["config.query_count.QueryCountMiddleware", *settings.MIDDLEWARE]
    jobs_of(tester, 5)
    client = browser(tester)
    client.get("/clips/")
    with django_assert_max_num_queries(40) as captured:
        response = client.get("/clips/")
    assert int(response["X-DB-Queries"]) == len(captured) > 0


def test_without_the_setting_there_is_no_header(tester_client):
    assert "X-DB-Queries" not in tester_client.get("/clips/")
