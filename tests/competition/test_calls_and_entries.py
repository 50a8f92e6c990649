"""Calls and entries through the pages: admins open a call and its rubric, which locks when submissions
open (a change then needs a notice every entrant gets); eligible testers read it and enter a film until
the close; everyone else is refused."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from access.models import AuditEvent
from competition import calls
from competition.media import film_url
from competition.models import Call, CallNotice, Submission
from feedback.models import Notification
from tests.competition.conftest import close, enter, film, make_call, processed, succeeded_job
from tests.conftest import with_totp

pytestmark = pytest.mark.django_db


def client_for(user):
    browser = Client()
    browser.force_login(user)
    return browser


def _fmt(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def call_form(**overrides):
    now = timezone.now()
    return {
        "title": "Short films of the sea",
        "brief": "Up to a minute.",
        "rules": "Your own clips only.",
        "eligible_roles": ["artist", "collaborator"],
        "submissions_open_at": _fmt(now + timedelta(days=1)),
        "submissions_close_at": _fmt(now + timedelta(days=8)),
        "judging_ends_at": _fmt(now + timedelta(days=15)),
        "results_at": _fmt(now + timedelta(days=16)),
        "prizes": "Screening",
        "winners_count": 2,
        "reviewers_per_entry": 3,
        "watch_percent": 90,
        "exclude_same_cohort": "on",
        "appeal_days": 7,
        "max_duration_seconds": 300,
        "max_megabytes": 200,
    } | overrides


def test_an_admin_opens_a_call_and_writes_its_rubric(admin_user, programme, cohort):
    admin = client_for(admin_user)
    response = admin.post("/manage/alpha/competition/", call_form(eligible_cohorts=[cohort.pk]))
    call = Call.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/manage/alpha/competition/{call.pk}/"
    assert call.eligible_roles == ["artist", "collaborator"] and call.watch_share == 0.9
    assert list(call.eligible_cohorts.all()) == [cohort]
    response = admin.post(
        f"/manage/alpha/competition/{call.pk}/criteria/",
        {
            "name": "Story",
            "weight": "2",
            "scale_max": "3",
            "levels": "Thin\nClear\nGripping",
        },
    )
    assert response.status_code == 302 and call.criteria.get().levels == ["Thin", "Clear", "Gripping"]
    assert admin.post(f"/manage/alpha/competition/{call.pk}/announce/").status_code == 302
    call.refresh_from_db()
    assert call.announced_at is not None
    page = admin.get(f"/manage/alpha/competition/{call.pk}/")
    assert page.status_code == 200 and "Gripping" in page.content.decode()
    actions = list(AuditEvent.objects.filter(programme=programme).values_list("action", flat=True))
    assert {"competition.call_created", "competition.rubric_changed", "competition.call_announced"} <= set(actions)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"submissions_close_at": _fmt(timezone.now())}, "Dates must run in order"),
        ({"title": ""}, "This field is required"),
        ({"eligible_roles": ["reviewer"]}, "Select a valid choice"),
    ],
)
def test_a_bad_call_is_refused_and_nothing_is_made(admin_user, overrides, message):
    response = client_for(admin_user).post("/manage/alpha/competition/", call_form(**overrides))
    assert response.status_code == 400 and message in response.content.decode()
    assert not Call.objects.exists()


def test_an_empty_form_is_answered_with_what_is_missing(call, admin_user, tester):
    response = client_for(admin_user).post("/manage/alpha/competition/", {})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert Call.objects.count() == 1
    response = client_for(tester).post(call.get_absolute_url(), {})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    assert not Submission.objects.exists()


def test_bad_levels_are_refused(call, admin_user):
    response = client_for(admin_user).post(
        f"/manage/alpha/competition/{call.pk}/criteria/",
        {
            "name": "Sound",
            "weight": "1",
            "scale_max": "4",
            "levels": "Bad\nGood",
            "notice": "Adding sound",
        },
    )
    assert response.status_code == 400 and "Describe each of the 4 levels" in response.content.decode()
    assert not call.criteria.filter(name="Sound").exists()


def test_manage_pages_are_for_the_programmes_admins_only(call, tester, reviewer, outsider):
    for person in (tester, with_totp(reviewer), outsider):  # a reviewer with two factors, past the MFA gate
        browser = client_for(person)
        assert browser.get("/manage/alpha/competition/").status_code == 404
        assert browser.get(f"/manage/alpha/competition/{call.pk}/").status_code == 404
        assert browser.post(f"/manage/alpha/competition/{call.pk}/assign/").status_code == 404
        assert browser.post(f"/manage/alpha/competition/{call.pk}/publish/").status_code == 404


def test_once_open_the_rubric_and_rules_change_only_with_a_notice_to_every_entrant(call, admin_user, tester):
    enter(call, tester)
    story = call.criteria.get(name="Story")
    with pytest.raises(Exception, match="say what changes and why"):
        calls.criterion_save(
            call=call, actor=admin_user, criterion=story, name="Story", weight=3, scale_max=5, levels=story.levels
        )
    with pytest.raises(Exception, match="say what changes and why"):
        calls.call_update(call=call, actor=admin_user, rules="New rules")
    story.refresh_from_db()
    call.refresh_from_db()
    assert story.weight == 2 and call.rules == "Only your own clips."

    calls.call_update(call=call, actor=admin_user, rules="New rules", notice="Music must be licensed.")
    notice = CallNotice.objects.get()
    assert notice.changes == {"rules": ["Only your own clips.", "New rules"]}
    assert Notification.objects.filter(user=tester, text__contains="Music must be licensed").exists()
    event = AuditEvent.objects.get(action="competition.call_changed")
    assert event.reason == "Music must be licensed." and event.data["changes"]["rules"][1] == "New rules"
    page = client_for(tester).get(call.get_absolute_url()).content.decode()
    assert "Music must be licensed." in page and "New rules" in page


def test_an_eligible_tester_reads_the_call_and_rubric_before_entering(call, tester):
    page = client_for(tester).get(call.get_absolute_url())
    body = page.content.decode()
    assert page.status_code == 200 and "A film about the night" in body and "Unforgettable" in body
    assert "Submit film" in body
    assert call.title in client_for(tester).get("/competition/").content.decode()


def test_a_draft_call_or_one_for_other_cohorts_is_not_shown(
    programme, admin_user, cohort, red_team, tester, red_teamer, outsider
):
    restricted = make_call(programme, admin_user, title="Wave 1 only")
    restricted.eligible_cohorts.set([cohort])
    draft = calls.call_create(
        programme=programme,
        actor=admin_user,
        title="Draft",
        brief="b",
        rules="r",
        submissions_open_at=timezone.now() + timedelta(days=1),
        submissions_close_at=timezone.now() + timedelta(days=2),
        judging_ends_at=timezone.now() + timedelta(days=3),
        results_at=timezone.now() + timedelta(days=3),
    )
    assert client_for(tester).get(draft.get_absolute_url()).status_code == 404
    assert client_for(red_teamer).get(restricted.get_absolute_url()).status_code == 404
    assert client_for(outsider).get(restricted.get_absolute_url()).status_code == 404
    with pytest.raises(Exception, match="not open to your role or cohort"):
        enter(restricted, red_teamer)


def test_a_tester_enters_a_film_edits_it_until_the_close_and_is_refused_after(call, tester):
    job = succeeded_job(tester)
    browser = client_for(tester)
    form = {
        "title": "Moonrise",
        "logline": "The moon, slowly",
        "credits": "Tess Tester",
        "jobs": job.job_code.lower(),
        "file": SimpleUploadedFile("my film.mp4", film(), content_type="video/mp4"),
    }
    response = browser.post(call.get_absolute_url(), form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    submission = Submission.objects.get()
    assert submission.processing == Submission.Processing.WAITING, "the film is read after the request"
    submission = processed(submission)
    assert submission.entrant == tester and submission.duration_seconds == pytest.approx(2.0, abs=0.05)
    assert re.fullmatch(rf"competition/{call.pk}/[0-9a-f]{{32}}\.mp4", submission.file.name), "a random name"
    assert list(submission.jobs.all()) == [job]

    response = browser.post(call.get_absolute_url(), form | {"title": "Moonset", "file": ""})
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.title == "Moonset" and submission.file_bytes > 0, "the film stays when none is chosen"
    page = browser.get(call.get_absolute_url()).content.decode()
    assert "Your entry: Moonset" in page and job.job_code in page

    close(call)
    response = browser.post(call.get_absolute_url(), form | {"title": "Too late", "file": ""})
    assert response.status_code == 400 and "late entries are refused" in response.content.decode()
    submission.refresh_from_db()
    assert submission.title == "Moonset"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"file": SimpleUploadedFile("x.mp4", b"not a video", content_type="video/mp4")}, "not an MP4 file"),
        ({"jobs": "ZZZZZZZ"}, "ZZZZZZZ is not one of your jobs"),
        ({"jobs": "hello"}, "is not a job code"),
        ({"file": ""}, "Upload the film as an MP4"),
    ],
)
def test_a_bad_entry_is_refused_with_a_clear_error_and_nothing_saved(call, tester, changes, message):
    job = succeeded_job(tester)
    form = {
        "title": "T",
        "logline": "L",
        "credits": "C",
        "jobs": job.job_code,
        "file": SimpleUploadedFile("f.mp4", film(), content_type="video/mp4"),
    } | changes
    response = client_for(tester).post(call.get_absolute_url(), form)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Submission.objects.exists()


def test_a_job_that_did_not_succeed_cannot_be_listed(call, tester):
    job = succeeded_job(tester)
    job.state = "failed"
    job.save()
    with pytest.raises(Exception, match="did not succeed"):
        enter(call, tester, job=job)


def test_the_film_link_serves_the_entrant_and_admins_only(call, tester, tester2, admin_user, reviewer):
    submission = enter(call, tester)
    own = film_url(submission, viewer=tester, blind=False)
    response = client_for(tester).get(own)
    assert response.status_code == 200 and response["Content-Type"] == "video/mp4"
    assert b"".join(response.streaming_content) == submission.file.open("rb").read()
    for person in (tester2, reviewer):
        assert client_for(person).get(own).status_code == 403, "a link works only for the person it was made for"
        assert client_for(person).get(film_url(submission, viewer=person, blind=False)).status_code == 403
    assert client_for(admin_user).get(film_url(submission, viewer=admin_user, blind=False)).status_code == 200
    assert Client().get(own).status_code == 200, "like a clip's link, it works for its holder (a player)"
    tester.is_active = False
    tester.save()
    assert Client().get(own).status_code == 403, "and stops when the person it was made for loses access"


def test_the_film_link_answers_a_byte_range_to_its_holder_only(call, tester, tester2):
    submission = enter(call, tester)
    own = film_url(submission, viewer=tester, blind=False)
    whole = submission.file.open("rb").read()
    submission.file.close()

    part = client_for(tester).get(own, HTTP_RANGE="bytes=100-299")

    assert part.status_code == 206 and b"".join(part.streaming_content) == whole[100:300]
    assert part["Content-Range"] == f"bytes 100-299/{len(whole)}" and part["Accept-Ranges"] == "bytes"
    assert part["Cache-Control"] == "private, no-store"
    assert client_for(tester2).get(own, HTTP_RANGE="bytes=100-299").status_code == 403
    tester.is_active = False
    tester.save()
    assert Client().get(own, HTTP_RANGE="bytes=100-299").status_code == 403
