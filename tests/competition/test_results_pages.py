"""Publication: admins review the ranking (spread, agreement, watch time beside each score), then publish;
entrants see their per-criterion scores and the reviewers' reasons, anonymised, their rank and the
distribution; the public page shows winners and the method; prizes and entries reach the ledger once;
appeals within the window, answered on the record."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from access.models import AuditEvent, User
from competition import results, reviews
from competition.models import Appeal, Call
from feedback.models import LedgerEntry
from tests.competition.conftest import close, enter

pytestmark = pytest.mark.django_db


def client_for(user):
    browser = Client()
    browser.force_login(user)
    return browser


def test_admins_see_the_ranking_with_spread_agreement_and_watch_time(reviewed, admin_user, call):
    page = client_for(admin_user).get(f"/manage/alpha/competition/{call.pk}/").content.decode()
    assert page.index("Moonrise") < page.index("Low tide")
    assert "Reviewer agreement" in page and 'class="review"' in page and 'class="mean"' in page
    assert page.count("2.0 s of 2.0 s") == 4, "watch time beside each review's scores"


def test_publication_ranks_credits_and_shows_each_entrant_their_scores(
    reviewed, admin_user, call, tester, tester2, reviewer, outsider
):
    moon, tide = reviewed
    assert Client().get(f"/competition/{call.pk}/results/").status_code == 404, "nothing public before publication"
    assert client_for(admin_user).post(f"/manage/alpha/competition/{call.pk}/publish/").status_code == 302
    moon.refresh_from_db()
    tide.refresh_from_db()
    assert (moon.rank, moon.winner, tide.rank, tide.winner) == (1, True, 2, False)
    assert moon.score == pytest.approx(1.0) and tide.score == pytest.approx(-1.0)
    credits = sorted(LedgerEntry.objects.values_list("person__email", "kind", "amount"))
    assert credits == [
        ("tester2@example.org", "submission", 20),
        ("tester@example.org", "prize", 500),
        ("tester@example.org", "submission", 20),
    ]
    assert AuditEvent.objects.get(action="competition.results_published").data["winners"] == [moon.pk]
    with pytest.raises(ValidationError, match="already published"):
        results.results_publish(call=call, actor=admin_user)
    assert LedgerEntry.objects.count() == 3

    page = client_for(tester).get(call.get_absolute_url()).content.decode()
    assert "Rank <strong>1</strong> of 2" in page and "a winner" in page
    assert "Reviewer A" in page and "Reviewer B" in page and "Bright story" in page and "Bright craft" in page
    assert "Flat" not in page, "another entry's reasons are not shown"
    assert reviewer.email not in page and "reviewer2@example.org" not in page
    assert page.count('class="entry"') == 1 and page.count('class="yours"') == 1
    other = client_for(tester2).get(call.get_absolute_url()).content.decode()
    assert "Rank <strong>2</strong> of 2" in other and "Flat story" in other and "Bright" not in other

    public = Client().get(f"/competition/{call.pk}/results/").content.decode()
    assert "Moonrise" in public and tester.display_name in public and "Low tide" not in public
    assert "z = (score" in public and "Ties are broken" in public
    assert client_for(outsider).get(f"/competition/{call.pk}/results/").status_code == 200


def test_the_public_page_names_winners_by_display_name_never_by_email(reviewed, admin_user, call, tester2):
    Call.objects.filter(pk=call.pk).update(winners_count=2)
    User.objects.filter(pk=tester2.pk).update(display_name="")  # str() of such a person is their email
    results.results_publish(call=call, actor=admin_user)
    public = Client().get(f"/competition/{call.pk}/results/").content.decode()
    assert tester2.email not in public and "@example.org" not in public
    assert "Moonrise</strong> by Tess Tester" in public and "Low tide</strong> <span" in public


def test_publication_waits_for_unfinished_reviews_unless_told(call, tester, reviewer, admin_user):
    enter(call, tester)
    close(call)
    reviews.assignment_run(call=call, actor=admin_user)
    with pytest.raises(ValidationError, match="1 reviews are unfinished"):
        results.results_publish(call=call, actor=admin_user)
    with pytest.raises(ValidationError, match="nothing to rank"):
        results.results_publish(call=call, actor=admin_user, allow_unfinished=True)
    assert not Call.objects.get().published


def test_an_entrant_appeals_within_the_window_and_an_admin_answers_on_the_record(
    reviewed, admin_user, call, tester, tester2
):
    moon, tide = reviewed
    with pytest.raises(ValidationError, match="open when results are published"):
        results.appeal_file(submission=tide, entrant=tester2, text="Unfair")
    results.results_publish(call=call, actor=admin_user)
    browser = client_for(tester2)
    assert browser.post(f"/competition/{call.pk}/appeal/", {"text": ""}).status_code == 302
    assert not Appeal.objects.exists()
    browser.post(f"/competition/{call.pk}/appeal/", {"text": "Reviewer A did not watch the ending."})
    appeal = Appeal.objects.get()
    assert appeal.submission == tide
    with pytest.raises(ValidationError, match="already appealed"):
        results.appeal_file(submission=tide, entrant=tester2, text="Again")
    with pytest.raises(Exception, match="Only the entrant"):
        results.appeal_file(submission=tide, entrant=tester, text="For them")
    late = timezone.now() + timedelta(days=call.appeal_days, minutes=1)
    with pytest.raises(ValidationError, match="Appeals closed"):
        results.appeal_file(submission=moon, entrant=tester, text="Late", at=late)

    url = f"/manage/alpha/competition/{call.pk}/appeals/{appeal.pk}/answer/"
    assert client_for(tester2).post(url, {"outcome": "upheld", "answer": "Yes"}).status_code == 404
    client_for(admin_user).post(url, {"outcome": "dismissed", "answer": ""})
    appeal.refresh_from_db()
    assert not appeal.answered_at, "an answer without words changes nothing"
    client_for(admin_user).post(url, {"outcome": "dismissed", "answer": "Both reviewers watched it all."})
    appeal.refresh_from_db()
    assert appeal.outcome == "dismissed" and appeal.answered_by == admin_user
    event = AuditEvent.objects.get(action="competition.appeal_answered")
    assert event.subject == tester2 and event.reason == "Both reviewers watched it all."
    page = browser.get(call.get_absolute_url()).content.decode()
    assert "Dismissed" in page and "Both reviewers watched it all." in page
