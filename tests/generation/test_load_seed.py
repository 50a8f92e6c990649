"""manage.py seed_load: benchmark data that the pages can use, added once, never into a database
that holds real people unless forced, and bad arguments refused with nothing written."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count

from access.models import AuditEvent, Grant, Membership
from generation import gallery
from generation.load_seed import SEED_DOMAIN, seed_email
from generation.models import RenderJob
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_seeds_testers_with_grants_and_a_history_of_jobs_once(client):
    call_command("seed_load", jobs=600, testers=12, heavy_share=0.5, verbosity=0)

    people = get_user_model().objects.filter(email__endswith=f"@{SEED_DOMAIN}")
    assert people.count() == 13  # 12 testers and the staff member
    assert Membership.objects.filter(user__email__startswith="tester-").count() == 12
    assert Grant.objects.filter(user__email__startswith="tester-").count() == 12
    assert AuditEvent.objects.filter(action="access.grant_created", data__seeded=True).count() == 12
    heavy = people.get(email=seed_email(1))
    assert RenderJob.objects.count() == 600 and heavy.render_jobs.count() == 300
    states = dict(RenderJob.objects.values_list("state").annotate(Count("pk")))
    assert states["succeeded"] > states["failed"] > 0 and states["cancelled"] > 0
    assert len(set(RenderJob.objects.values_list("mark_code", flat=True))) == 600
    oldest, newest = RenderJob.objects.order_by("queued_at").first(), RenderJob.objects.first()
    assert (newest.queued_at - oldest.queued_at).days > 100, "queued times spread over months, not stamped now"

    call_command("seed_load", jobs=600, testers=12, verbosity=0)
    assert RenderJob.objects.count() == 600 and people.count() == 13, "a second run adds nothing"

    client.force_login(heavy)  # a seeded tester uses the site like anyone
    response = client.get("/clips/")
    assert response.status_code == 200
    assert len(gallery.jobs_for(heavy)[:24]) == 24


def test_it_refuses_a_database_with_other_people_unless_forced():
    UserFactory(email="real@example.org")
    with pytest.raises(CommandError, match="not load-seed accounts.*--force"):
        call_command("seed_load", jobs=10, testers=2, verbosity=0)
    assert not RenderJob.objects.exists() and not Grant.objects.exists()
    call_command("seed_load", jobs=10, testers=2, force=True, verbosity=0)
    assert RenderJob.objects.count() == 10


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--jobs", "-5"], "negative"),
        (["--jobs", "lots"], "not a whole number"),
        (["--jobs", "10", "--testers", "0"], "at least 1"),
        (["--heavy-share", "1.5"], "from 0 to less than 1"),
        (["--batch", "0"], "at least 1"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_written(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_load", *arguments, verbosity=0)
    assert not get_user_model().objects.exists() and not RenderJob.objects.exists()
