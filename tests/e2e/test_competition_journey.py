"""Issue 6 as people see it, in Chromium: an admin opens a call and writes its rubric, a tester enters a
film, a reviewer watches it to the end in the player and scores it, the admin publishes, and the entrant
sees their scores. The call's dates are moved in the database between stages (its clock, not the test's)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from access.rates import rate_publish
from competition.models import Call, ReviewAssignment
from feedback.models import LedgerEntry
from tests.competition.conftest import close, film
from tests.e2e.browser import page_as, wait_playable
from tests.feedback.conftest import finished_clip

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_a_call_from_opening_to_published_results(
    celery_worker, browser, live_server, settings, tester, reviewer, admin_user, programme
):
    settings.BACKLOT_PROGRESS_POLL_SECONDS = 0.2
    rate_publish(programme=programme, kind="submission", points=5, amount="20", currency="USD")
    rate_publish(programme=programme, kind="prize", points=50, amount="500", currency="USD")
    clip = finished_clip(tester, programme=programme)
    base, now = live_server.url, timezone.now()

    # The admin opens a call, writes a two-line rubric and announces it.
    admin = page_as(browser, live_server, admin_user)
    admin.goto(f"{base}/manage/alpha/competition/")
    admin.fill("input[name=title]", "Night films")
    admin.fill("textarea[name=brief]", "A film about the night.")
    admin.fill("textarea[name=rules]", "Only your own clips.")
    admin.check("input[name=eligible_roles][value=artist]")
    dates = {
        "submissions_open_at": timedelta(hours=1),
        "submissions_close_at": timedelta(days=7),
        "judging_ends_at": timedelta(days=14),
        "results_at": timedelta(days=15),
    }
    for name, offset in dates.items():
        admin.fill(f"input[name={name}]", _local(now + offset))
    admin.fill("input[name=reviewers_per_entry]", "1")
    admin.fill("input[name=winners_count]", "1")
    admin.click("button:has-text('Create call')")
    admin.wait_for_selector("text=Call created")
    for name, weight, levels in (("Story", "2", "Thin\nClear\nGripping"), ("Craft", "1", "Rough\nSolid\nPolished")):
        admin.click("summary:has-text('Add a criterion')")
        form = admin.locator("form.criterion-form")
        form.locator("input[name=name]").fill(name)
        form.locator("input[name=weight]").fill(weight)
        form.locator("input[name=scale_max]").fill("3")
        form.locator("textarea[name=levels]").fill(levels)
        form.locator("button:has-text('Add criterion')").click()
        admin.wait_for_selector("text=Rubric saved")
    admin.click("button:has-text('Announce the call')")
    admin.wait_for_selector("text=The call is announced")
    call = Call.objects.get()
    Call.objects.filter(pk=call.pk).update(submissions_open_at=timezone.now() - timedelta(minutes=1))

    # The tester reads the rubric and enters a film.
    artist = page_as(browser, live_server, tester)
    artist.goto(f"{base}/competition/")
    artist.click("text=Night films")
    assert "Gripping" in artist.inner_text("table.rubric")
    artist.fill("input[name=title]", "Moonrise")
    artist.fill("textarea[name=logline]", "The moon, slowly")
    artist.fill("textarea[name=credits]", "Tess Tester")
    artist.fill("textarea[name=jobs]", clip.job_code)
    artist.set_input_files(
        "input[name=file]", files=[{"name": "moonrise.mp4", "mimeType": "video/mp4", "buffer": film(2)}]
    )
    artist.click("button:has-text('Submit film')")
    artist.wait_for_selector("text=Your entry is saved")
    assert "Your entry: Moonrise" in artist.inner_text("main")
    # The films worker reads it; the entry's page follows it (htmx) until it is ready.
    artist.wait_for_selector("[data-processing=ready]", timeout=60_000)
    assert "2.0 s" in artist.inner_text("#entry-status")

    # Submissions close; the admin assigns reviewers.
    close(call)
    admin.reload()
    admin.click("button:has-text('Assign reviewers')")
    admin.wait_for_selector("text=Assignment done: 1 added")

    # The reviewer watches the whole film in the player, then scores it.
    judge = page_as(browser, live_server, reviewer)
    judge.goto(f"{base}/reviews/")
    judge.click("text=Moonrise")
    wait_playable(judge, "video")
    assert "Tess" not in judge.inner_text("main")
    judge.evaluate("() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }")
    judge.wait_for_function("() => document.querySelector('video').ended", timeout=30_000)
    judge.wait_for_function(
        "() => parseInt(document.getElementById('watched-share').textContent) >= 90", timeout=15_000
    )
    assignment = ReviewAssignment.objects.get()
    assert assignment.watched_share >= 0.9
    for criterion, value, reason in (
        (call.criteria.get(name="Story"), 3, "Holds the eye to the end"),
        (call.criteria.get(name="Craft"), 2, "Cuts are abrupt"),
    ):
        judge.check(f"input[name=score_{criterion.pk}][value='{value}']")
        judge.fill(f"textarea[name=reason_{criterion.pk}]", reason)
    judge.click("button:has-text('Submit review')")
    judge.wait_for_selector("text=Your review is submitted")

    # The admin sees the ranking with the watch time, and publishes.
    admin.reload()
    assert "Moonrise" in admin.inner_text("table.ranking")
    assert "s of 2.0 s" in admin.inner_text("table.assignments")
    admin.click("button:has-text('Publish results')")
    admin.wait_for_selector("text=Results are published")

    # The entrant sees their scores, the reasons, their rank and the distribution.
    artist.goto(f"{base}{call.get_absolute_url()}")
    result = artist.inner_text("section.my-result")
    assert "Rank 1 of 1" in result and "a winner" in result
    assert "Holds the eye to the end" in result and "Cuts are abrupt" in result and "Reviewer A" in result
    assert reviewer.email not in result
    assert artist.locator("section.my-result svg circle.yours").count() == 1
    assert sorted(LedgerEntry.objects.values_list("kind", "amount")) == [("prize", 500), ("submission", 20)]
