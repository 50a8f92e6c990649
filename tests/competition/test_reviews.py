"""Blind review: reviewers see their assigned films and nothing of who made them (invariant 7), score by
the rubric with a reason each, save drafts and submit once, and only after watching the call's share."""

import json
import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from competition import entries, reviews
from competition.media import film_url
from competition.models import ReviewAssignment, Submission
from generation.encoding import read_metadata
from tests.competition.conftest import close, enter, film, processed, watch_through

pytestmark = pytest.mark.django_db

SECRET_CREDITS = "Directed by Tess Tester, shot with Hal Holloway"

TAG = "backlot_job"  # a container tag naming the job, as an entrant's own tools might write


def client_for(user):
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def judged(call, tester, tester2, reviewer, reviewer2, admin_user):
    """Two entries (the first with identifying metadata in its file), closed, two reviewers on each."""
    entry = entries.submission_save(
        call=call,
        entrant=tester,
        title="Moonrise",
        logline="The moon, slowly",
        credits=SECRET_CREDITS,
        jobs=enter.__globals__["succeeded_job"](tester).job_code,
        film=film(6, metadata={TAG: '{"claim": {"job": "x"}}', "artist": tester.email, "comment": "Tess Tester"}),
    )
    entry = processed(entry)
    enter(call, tester2, title="Low tide")
    close(call)
    reviews.assignment_run(call=call, actor=admin_user)
    return entry, ReviewAssignment.objects.get(submission=entry, reviewer=reviewer)


def scores_post(call, value=3, reason="Clear and well paced"):
    return {
        f"{kind}_{c.pk}": value if kind == "score" else reason
        for c in call.criteria.all()
        for kind in ("score", "reason")
    }


def watch(assignment, reviewer, *, share=1.0):
    """The player's reports, at the pace a person watching would send them."""
    assert assignment.reviewer_id == reviewer.pk
    return watch_through(assignment, share=share)


def test_a_reviewer_never_reaches_the_entrants_identity(judged, reviewer, tester, call):
    """Invariant 7: every reviewer-facing page, API field and file, walked for the entrant's name, email,
    account id, credits, job codes, the original file and its metadata."""
    entry, assignment = judged
    browser = client_for(reviewer)
    api = APIClient()
    api.force_authenticate(reviewer)
    secrets = [
        tester.email,
        tester.display_name,
        SECRET_CREDITS,
        "Hal Holloway",
        entry.file.name,
        *[job.job_code for job in entry.jobs.all()],
        f"/people/{tester.pk}/",
        TAG,
    ]
    original = film_url(entry, viewer=reviewer, blind=False)
    seen = []
    for path in ("/reviews/", assignment.get_absolute_url(), "/competition/", call.get_absolute_url()):
        response = browser.get(path)
        assert response.status_code in (200, 404), path
        seen.append(response.content.decode())
    seen.append(
        browser.post(
            f"{assignment.get_absolute_url()}watched/",
            json.dumps({"ranges": [[0, 1]]}),
            content_type="application/json",
        ).content.decode()
    )
    for path in (
        "/api/v1/competition/reviews/",
        f"/api/v1/competition/reviews/{assignment.pk}/",
        "/api/v1/competition/calls/",
        "/api/v1/competition/submissions/",
    ):
        response = api.get(path)
        assert response.status_code == 200, path
        seen.append(json.dumps(response.json()))
    fields = api.get(f"/api/v1/competition/reviews/{assignment.pk}/").json()
    assert set(fields) == {
        "id",
        "call",
        "call_title",
        "brief",
        "title",
        "logline",
        "duration_seconds",
        "state",
        "watched_seconds",
        "watched_share",
        "film_url",
        "submitted_at",
    }
    blind_link = re.search(r'<video id="film" src="([^"]+)"', seen[1]).group(1)
    assert fields["film_url"].endswith(re.sub(r"/competition/films/[^/]+/", "", blind_link) or "/")
    blind = b"".join(browser.get(blind_link).streaming_content)
    assert set(read_metadata(blind)) <= {"major_brand", "minor_version", "compatible_brands"}
    everything = "\n".join(seen)
    for secret in secrets:
        assert secret not in everything, secret
        assert secret.encode() not in blind, secret
    assert original not in everything and entry.file.url not in everything
    assert "entrant" not in everything and "credits" not in everything
    assert browser.get(original).status_code == 403, "the original is refused to a reviewer, whatever the link"
    disposition = browser.get(blind_link)["Content-Disposition"]
    assert 'filename="film.mp4"' in disposition


def test_reviewers_see_only_their_own_assignments(judged, reviewer, reviewer2, tester, outsider):
    entry, assignment = judged
    assert client_for(reviewer2).get(assignment.get_absolute_url()).status_code == 404
    assert client_for(tester).get("/reviews/").status_code == 404
    assert client_for(outsider).get(assignment.get_absolute_url()).status_code == 404
    blind = film_url(entry, viewer=tester, blind=True)
    assert client_for(tester).get(blind).status_code == 403, "an entrant gets no blind link to another's review"
    with pytest.raises(PermissionDenied):
        reviews.review_save(assignment=assignment, reviewer=reviewer2, scores={}, submit=False)
    api = APIClient()
    api.force_authenticate(reviewer2)
    assert api.get(f"/api/v1/competition/reviews/{assignment.pk}/").status_code == 404


def test_a_review_is_submitted_once_only_after_watching_the_share(judged, reviewer, call):
    entry, assignment = judged
    browser = client_for(reviewer)
    assert browser.get(assignment.get_absolute_url()).status_code == 200
    response = browser.post(assignment.get_absolute_url(), scores_post(call) | {"submit": "1"})
    assert response.status_code == 400 and "Watch at least 90% of the film" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.state == "assigned" and not assignment.scores.exists()

    draft = {f"score_{call.criteria.first().pk}": 4, "draft": "1"}
    assert browser.post(assignment.get_absolute_url(), draft).status_code == 302
    assignment.refresh_from_db()
    assert assignment.state == "draft" and assignment.scores.filter(value=4).count() == 1

    watch(assignment, reviewer, share=0.85)
    response = browser.post(assignment.get_absolute_url(), scores_post(call) | {"submit": "1"})
    assert "so far 85%" in response.content.decode()
    watch(assignment, reviewer, share=1.0)
    response = browser.post(assignment.get_absolute_url(), scores_post(call, reason="") | {"submit": "1"})
    assert response.status_code == 400 and "Say in a sentence why Story scores 3" in response.content.decode()
    assert browser.post(assignment.get_absolute_url(), scores_post(call) | {"submit": "1"}).status_code == 302
    assignment.refresh_from_db()
    assert assignment.state == "submitted" and assignment.scores.filter(value=3).count() == 2
    response = browser.post(assignment.get_absolute_url(), scores_post(call, value=5) | {"submit": "1"})
    assert response.status_code == 400 and "can no longer change" in response.content.decode()
    assert assignment.scores.filter(value=5).count() == 0


def test_a_score_outside_the_scale_is_refused(judged, reviewer, call):
    _, assignment = judged
    response = client_for(reviewer).post(assignment.get_absolute_url(), scores_post(call, value=9) | {"draft": "1"})
    assert response.status_code == 400 and not assignment.scores.exists()


def test_watched_ranges_merge_and_cannot_outrun_the_clock(judged, reviewer):
    _, assignment = judged
    browser = client_for(reviewer)
    url = f"{assignment.get_absolute_url()}watched/"
    browser.get(assignment.get_absolute_url())
    response = browser.post(url, json.dumps({"ranges": [[0, 6]]}), content_type="application/json")
    assert response.status_code == 400 and "more than could have been watched" in response.json()["error"]
    assignment.refresh_from_db()
    assert assignment.watched == [] and assignment.watched_seconds == 0

    opened = timezone.now() - timedelta(seconds=30)
    ReviewAssignment.objects.filter(pk=assignment.pk).update(opened_at=opened)
    assert browser.post(url, json.dumps({"ranges": [[0, 0.5]]}), content_type="application/json").status_code == 200
    for ranges in ([[0.4, 1.0], [1.5, 1.8]], [[1.7, 99]]):
        # Ten seconds pass between reports: time enough for what each adds at double speed.
        ReviewAssignment.objects.filter(pk=assignment.pk).update(last_watch_at=timezone.now() - timedelta(seconds=10))
        response = browser.post(url, json.dumps({"ranges": ranges}), content_type="application/json")
        assert response.status_code == 200
    assignment.refresh_from_db()
    duration = assignment.submission.duration_seconds
    assert assignment.watched == [[0.0, 1.0], [1.5, round(duration, 3)]]
    assert response.json()["watched_seconds"] == pytest.approx(1.0 + duration - 1.5, abs=0.01)
    for bad in (b"not json", json.dumps({"ranges": [[2, 1]]}), json.dumps({"ranges": "all"})):
        assert browser.post(url, bad, content_type="application/json").status_code == 400
    assert client_for(reviewer).get(url).status_code == 405


def test_a_page_left_open_cannot_claim_a_film_it_never_played(judged, reviewer, call):
    """The clock starts at the first report of playback, not when the page opened: a page opened a minute
    ago and never played cannot claim the whole film, and so cannot submit."""
    _, assignment = judged
    browser = client_for(reviewer)
    url = f"{assignment.get_absolute_url()}watched/"
    browser.get(assignment.get_absolute_url())
    ReviewAssignment.objects.filter(pk=assignment.pk).update(opened_at=timezone.now() - timedelta(seconds=63))
    duration = assignment.submission.duration_seconds
    whole = json.dumps({"ranges": [[0, duration]]})
    response = browser.post(url, whole, content_type="application/json")
    assert response.status_code == 400 and "more than could have been watched" in response.json()["error"]
    assert browser.post(url, json.dumps({"ranges": []}), content_type="application/json").status_code == 200
    assignment.refresh_from_db()
    assert assignment.watched == [] and assignment.watched_seconds == 0 and assignment.last_watch_at is None
    response = browser.post(assignment.get_absolute_url(), scores_post(call) | {"submit": "1"})
    assert response.status_code == 400 and "Watch at least" in response.content.decode()

    # Playback starts: the first report counts from then; the film is claimed as it plays, not before.
    assert browser.post(url, json.dumps({"ranges": [[0, 0.2]]}), content_type="application/json").status_code == 200
    assert browser.post(url, whole, content_type="application/json").status_code == 400
    started = timezone.now() - timedelta(seconds=duration / 2)
    ReviewAssignment.objects.filter(pk=assignment.pk).update(last_watch_at=started)
    assert browser.post(url, whole, content_type="application/json").status_code == 200
    assignment.refresh_from_db()
    assert assignment.watched_share == 1.0


def test_a_declared_conflict_keeps_the_persons_films_away(call, tester, tester2, reviewer, reviewer2, admin_user):
    enter(call, tester)
    enter(call, tester2, title="Low tide")
    response = client_for(reviewer).post("/reviews/conflicts/", {"email": tester.email.upper()})
    assert response.status_code == 302
    assert client_for(reviewer).post("/reviews/conflicts/", {"email": "nobody@example.org"}).status_code == 302
    assert reviewer.review_conflicts.count() == 2
    close(call)
    call.reviewers_per_entry = 1
    call.save()
    reviews.assignment_run(call=call, actor=admin_user)
    mine = Submission.objects.get(entrant=tester)
    assert list(mine.assignments.values_list("reviewer", flat=True)) == [reviewer2.pk]


def test_the_conflict_form_says_nothing_about_who_is_a_member(call, tester, reviewer, outsider):
    """Declaring a member's address, a non-member's (an outsider, in no programme) and an address nobody has
    gives the same answer, shown the same way; the list shows what the reviewer typed, nothing more."""
    browser = client_for(reviewer)
    pages = []
    for email in (tester.email, outsider.email, "nobody@example.org"):
        response = browser.post("/reviews/conflicts/", {"email": email}, follow=True)
        assert response.status_code == 200
        text = re.sub(re.escape(email), "ADDRESS", response.content.decode(), flags=re.IGNORECASE)
        pages.append(re.search(r'<ul class="messages">(.*?)</ul>', text, re.S).group(1))
    assert pages[0] == pages[1] == pages[2] and "Conflict declared" in pages[0]
    assert "Nobody in your programmes" not in "".join(pages)
    page = browser.get("/reviews/").content.decode()
    assert tester.display_name not in page
    assert reviewer.review_conflicts.count() == 3
    assert browser.post("/reviews/conflicts/", {"email": "not an address"}, follow=True).status_code == 200
    assert reviewer.review_conflicts.count() == 3


def test_a_reviewer_who_recognises_a_film_steps_away_and_it_is_reassigned(judged, reviewer, admin_user, programme):
    entry, assignment = judged
    browser = client_for(reviewer)
    assert browser.post(f"{assignment.get_absolute_url()}recuse/", {"reason": ""}).status_code == 302
    assignment.refresh_from_db()
    assert assignment.state == "assigned"
    browser.post(f"{assignment.get_absolute_url()}recuse/", {"reason": "I know who made this film"})
    assignment.refresh_from_db()
    assert assignment.state == "recused" and browser.get(assignment.get_absolute_url()).status_code == 404
    from tests.conftest import member

    member("reviewer3@example.org", programme=programme, role="reviewer")
    reviews.assignment_run(call=entry.call, actor=admin_user)
    reviewers = set(entry.assignments.exclude(state="recused").values_list("reviewer__email", flat=True))
    assert reviewers == {"reviewer2@example.org", "reviewer3@example.org"}


def test_nobody_is_assigned_their_own_film(call, tester, reviewer, reviewer2, admin_user, programme, cohort):
    from access.programmes import membership_add

    membership_add(user=reviewer, programme=programme, role="artist", cohort=cohort)
    enter(call, reviewer, title="Reviewer's own")
    enter(call, tester)
    close(call)
    call.exclude_same_cohort = False
    call.save()
    plan = reviews.assignment_run(call=call, actor=admin_user)
    own = Submission.objects.get(entrant=reviewer)
    assert plan.short == {own.pk: 1}, "two reviewers, k = 2: the reviewer's own film is one short"
    assert list(own.assignments.values_list("reviewer", flat=True)) == [reviewer2.pk]
    assert Submission.objects.get(entrant=tester).assignments.count() == 2
    admin_page = client_for(admin_user).get(f"/manage/alpha/competition/{call.pk}/").content.decode()
    assert "reviewer2@example.org" in admin_page


def test_a_reviewer_without_two_factor_is_sent_to_set_it_up_and_gets_no_film(judged, reviewer):
    """Reviewers watch unreleased films: like other staff, only with two-factor authentication set up."""
    from allauth.mfa.models import Authenticator
    from django.urls import reverse

    from access.tokens import token_create

    entry, assignment = judged
    Authenticator.objects.filter(user=reviewer).delete()  # one who never set it up
    reviewer.refresh_from_db()  # (removing it ended their sessions: a new session epoch)
    blind = film_url(entry, viewer=reviewer, blind=True)
    browser = client_for(reviewer)
    for path in ("/reviews/", assignment.get_absolute_url()):
        response = browser.get(path)
        assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp"), path
    watched = browser.post(
        f"{assignment.get_absolute_url()}watched/", json.dumps({"ranges": [[0, 1]]}), content_type="application/json"
    )
    assert watched.status_code == 302 and watched["Location"] == reverse("mfa_activate_totp")
    for holder in (browser, Client()):  # signed in, or anyone holding the link (a player)
        response = holder.get(blind)
        assert response.status_code == 403 and "two-factor" in response.content.decode(), holder
    _, token = token_create(user=reviewer, name="player", scopes=["read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for path in ("/api/v1/competition/reviews/", f"/api/v1/competition/reviews/{assignment.pk}/"):
        response = api.get(path)
        assert response.status_code == 403 and "two-factor" in response.json()["detail"], path

    from tests.conftest import with_totp

    with_totp(reviewer)
    assert client_for(reviewer).get("/reviews/").status_code == 200
    assert client_for(reviewer).get(blind).status_code == 200
    assert api.get("/api/v1/competition/reviews/").status_code == 200
