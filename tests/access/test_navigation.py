"""The header offers each person only what they can use: Generate only with a grant that lets them render now,
Reviews to reviewers, Manage to programme admins, Report a bug to members of a programme."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _links(person) -> set[str]:
    client = Client()
    client.force_login(person)
    page = client.get("/feedback/").content.decode()
    header = page[page.index('<header class="site-header"') : page.index("</header>")]
    return set(re.findall(r"<a [^>]*>([^<]+)</a>", header))


def test_an_artist_with_a_grant_gets_generate_and_their_clips(tester):
    links = _links(tester)
    assert {"Generate", "My clips", "Report a bug"} <= links
    assert not {"Reviews", "Manage", "Queue"} & links


def test_a_reviewer_gets_reviews_and_no_generate_link_that_would_refuse_them(reviewer):
    links = _links(reviewer)
    assert "Reviews" in links
    assert not {"Generate", "My clips"} & links


def test_a_programme_admin_gets_manage_and_no_generate(admin_user):
    links = _links(admin_user)
    assert {"Manage", "Queue"} <= links  # admin_user is Django staff too
    assert "Generate" not in links


def test_someone_without_a_grant_or_a_programme_sees_neither_generate_nor_report_a_bug(outsider):
    links = _links(outsider)
    assert not {"Generate", "My clips", "Report a bug", "Reviews", "Manage"} & links
    assert {"Competition", "Account"} <= links


def test_an_artist_whose_grant_ended_keeps_my_clips_but_loses_generate(tester):
    grant = tester.grants.get()
    grant.ends_at = grant.starts_at
    grant.save(update_fields=["ends_at"])
    links = _links(tester)
    assert "My clips" in links and "Generate" not in links


def test_the_header_asks_the_standing_the_middleware_read(tester):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from access.models import Suspension

    client = Client()
    client.force_login(tester)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/feedback/").content.decode()

    assert ">Generate</a>" in page
    decisions = [query for query in queries if "lifted_at" in query["sql"] and "ORDER BY" in query["sql"]]
    assert len(decisions) == 1, "the middleware's reading of the standing serves the header's Generate link too"
    assert Suspension._meta.db_table in decisions[0]["sql"]
