"""The gallery (/clips/): poster frames, filters, search, keyset pages, the clip page's timings, and deleting a clip."""

import io
import re
from datetime import datetime, time, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from access.models import AuditEvent
from generation import estimates, job_actions, queue, quota, render, submission
from generation.media import media_url
from generation.models import RenderJob
from generation.poster import poster_jpeg
from tests.factories import RenderJobFactory, job_settings

pytestmark = pytest.mark.django_db

GALLERY = reverse("generation:job_list")


def _rendered(owner, **fields) -> RenderJob:
    """A job really rendered by the smoke model, its MP4 and poster in storage."""
    job = RenderJobFactory(owner=owner, grant=owner.grants.get(), **fields)
    render.job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    return job


def _stored(name: str) -> bool:
    return RenderJob._meta.get_field("output").storage.exists(name)


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _card_ids(response) -> list[str]:
    return re.findall(r'id="card-([0-9a-f-]{36})"', response.content.decode())


# --- Posters ---------------------------------------------------------------------------------------


def test_a_poster_is_the_middle_frame_scaled_down_to_a_bounded_size():
    frames = np.zeros((9, 600, 1000, 3), dtype=np.uint8)
    frames[4, ..., 2] = 255  # only the middle frame is blue

    image = Image.open(io.BytesIO(poster_jpeg(frames)))

    assert image.format == "JPEG" and image.size == (480, 288)
    red, green, blue = image.getpixel((240, 144))
    assert blue > 240 and red < 15 and green < 15
    small = Image.open(io.BytesIO(poster_jpeg(np.full((1, 64, 96, 3), 128, dtype=np.uint8))))
    assert small.size == (96, 64), "a small clip is never enlarged"


@pytest.mark.parametrize(
    "frames", [np.zeros((0, 8, 8, 3), np.uint8), np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8, 3), np.float32)]
)
def test_a_poster_of_bad_frames_is_refused(frames):
    with pytest.raises(ValueError, match="Expected"):
        poster_jpeg(frames)


def test_a_render_stores_a_poster_served_only_through_a_signed_link(tester, tester2, smoke_model, client):
    job = _rendered(tester)
    assert job.poster.name == f"posters/{tester.pk}/{job.pk}.jpg" and _stored(job.poster.name)

    response = client.get(media_url(job, poster=True))

    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    image = Image.open(io.BytesIO(_body(response)))
    assert image.size == (job.width, job.height)
    client.force_login(tester2)
    assert client.get(media_url(job, poster=True)).status_code == 404, "another person's session is refused"
    assert client.get(f"/media/{job.poster.name}").status_code == 404, "no public address"


def test_a_poster_link_answers_403_once_its_owner_is_suspended(tester, admin_user, smoke_model, client):
    from access.suspensions import suspend

    job = _rendered(tester)
    link = media_url(job, poster=True)
    assert client.get(link).status_code == 200

    suspend(programme=job.grant.programme, user=tester, reason="Leaked a clip.", actor=admin_user)

    refused = client.get(link)
    assert refused.status_code == 403 and "Leaked a clip." in refused.content.decode()


# --- The gallery -----------------------------------------------------------------------------------


def test_the_gallery_needs_sign_in_and_shows_only_my_clips(client, tester, tester2, smoke_model):
    assert client.get(GALLERY)["Location"].startswith("/accounts/login/")
    mine = _rendered(tester, prompt="my lighthouse at dusk")
    theirs = _rendered(tester2, prompt="their secret project")
    client.force_login(tester)

    response = client.get(GALLERY)

    html = response.content.decode()
    assert response.status_code == 200 and _card_ids(response) == [str(mine.pk)]
    assert "my lighthouse at dusk" in html and "LTX-Video" in html and "Succeeded" in html
    poster = re.search(r'<img src="([^"]+)"', html).group(1)
    assert client.get(poster)["Content-Type"] == "image/jpeg"
    assert "their secret project" not in html and str(theirs.pk) not in html
    assert client.get(reverse("generation:job_card", args=[theirs.pk])).status_code == 404


def test_running_and_waiting_cards_update_themselves(tester_client, tester):
    running = RenderJobFactory(owner=tester, state="running", progress_step=3, progress_total=8)
    waiting = RenderJobFactory(owner=tester)
    done = RenderJobFactory(owner=tester, state="failed")

    html = tester_client.get(GALLERY).content.decode()
    card = tester_client.get(reverse("generation:job_card", args=[running.pk])).content.decode()

    assert f'hx-get="{reverse("generation:job_card", args=[running.pk])}"' in html
    assert f'hx-get="{reverse("generation:job_card", args=[waiting.pk])}"' in html
    assert reverse("generation:job_card", args=[done.pk]) not in html
    assert "step 3 of 8" in card and "number 1 in the queue" in html


@pytest.fixture
def assorted(tester):
    """Clips of two models and several states over three days."""
    noon = timezone.make_aware(datetime.combine(timezone.localdate(), time(12)))
    specs = [
        ("a red fox in the snow", "ltx-video", "succeeded", 0),
        ("a RED balloon over the sea", "cogvideox-2b", "failed", 0),
        ("a quiet forest", "ltx-video", "queued", 1),
        ("red leaves falling", "ltx-video", "succeeded", 2),
    ]
    jobs = {}
    for prompt, model_key, state, days_ago in specs:
        job = RenderJobFactory(owner=tester, prompt=prompt, model_key=model_key, state=state)
        RenderJob.objects.filter(pk=job.pk).update(queued_at=noon - timedelta(days=days_ago, minutes=len(jobs)))
        jobs[prompt] = job
    return jobs


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "red"}, ["a red fox in the snow", "a RED balloon over the sea", "red leaves falling"]),
        ({"q": "red", "state": "succeeded"}, ["a red fox in the snow", "red leaves falling"]),
        ({"model": "cogvideox-2b"}, ["a RED balloon over the sea"]),
        ({"state": "queued"}, ["a quiet forest"]),
        ({"since": "{day1}"}, ["a red fox in the snow", "a RED balloon over the sea", "a quiet forest"]),
        ({"since": "{day2}", "until": "{day1}"}, ["a quiet forest", "red leaves falling"]),
        ({"until": "{day2}", "q": "leaves"}, ["red leaves falling"]),
        ({"q": "no such words"}, []),
    ],
)
def test_filters_and_search_narrow_the_gallery(tester_client, assorted, query, expected):
    today = timezone.localdate()
    days = {"{day1}": str(today - timedelta(days=1)), "{day2}": str(today - timedelta(days=2))}
    query = {key: days.get(value, value) for key, value in query.items()}

    response = tester_client.get(GALLERY, query)

    assert response.status_code == 200
    assert _card_ids(response) == [str(assorted[prompt].pk) for prompt in expected]
    if not expected:
        assert "No clips match these filters." in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"state": "exploded"}, "Select a valid choice"),
        ({"model": "sora"}, "Select a valid choice"),
        ({"since": "yesterday"}, "Enter a valid date"),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "The end date is before the start date."),
        ({"q": "x" * 201}, "at most 200 characters"),
        ({"cursor": "forged"}, "This page link is not valid"),
    ],
)
def test_bad_filters_get_a_clear_error(tester_client, assorted, query, message):
    response = tester_client.get(GALLERY, query)

    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    assert _card_ids(response) == []


def test_the_filters_show_the_chosen_values_and_every_model_offered(tester_client, monkeypatch):
    """The state and model selects are drawn once per value and kept (generation.forms.KeptSelect)."""
    from generation import forms as generation_forms
    from generation.registry import model_choices

    def selected(query) -> list[str]:
        return re.findall(r'<option value="([^"]*)" selected>', tester_client.get(GALLERY, query).content.decode())

    assert selected({}) == ["", ""]
    assert selected({"state": "failed"}) == ["failed", ""]
    assert selected({"state": "queued", "model": "ltx-video"}) == ["queued", "ltx-video"]
    assert selected({}) == ["", ""]
    monkeypatch.setattr(generation_forms, "model_choices", lambda: [*model_choices(), ("new-model", "A new model")])
    assert '<option value="new-model">A new model</option>' in tester_client.get(GALLERY).content.decode()


def _walk(client, url, *, insert=None) -> list[str]:
    """Every card from the first page through the 'Older' links, calling ``insert`` between pages."""
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += _card_ids(response)
        pages += 1
        older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', response.content.decode())
        url = GALLERY + older.group(1).replace("&amp;", "&") if older else None
        if insert and url:
            insert()
    return seen


def test_pages_neither_repeat_nor_skip_clips_while_new_ones_arrive(tester_client, tester, settings):
    from generation import views

    views.GALLERY_PAGE_SIZE, page_size = 5, views.GALLERY_PAGE_SIZE
    try:
        at = timezone.now() - timedelta(hours=1)
        jobs = RenderJob.objects.bulk_create(
            RenderJobFactory.build(owner=tester, grant=tester.grants.get(), prompt=f"clip {index}")
            for index in range(23)
        )
        # Seven share one timestamp, so pages must also be cut by id within a tie.
        for index, job in enumerate(jobs):
            RenderJob.objects.filter(pk=job.pk).update(queued_at=at - timedelta(seconds=max(0, index - 6)))
        expected = [str(pk) for pk in RenderJob.objects.order_by("-queued_at", "-pk").values_list("pk", flat=True)]

        seen = _walk(tester_client, GALLERY, insert=lambda: RenderJobFactory(owner=tester, prompt="arrived late"))

        assert seen == expected, "every clip present at the start, once, in order; later clips never push others"
        newest = _card_ids(tester_client.get(GALLERY))
        assert len(newest) == 5 and RenderJob.objects.get(pk=newest[0]).prompt == "arrived late"
        filtered = _walk(tester_client, f"{GALLERY}?q=clip+1")
        assert {RenderJob.objects.get(pk=pk).prompt for pk in filtered} == {"clip 1"} | {
            f"clip 1{n}" for n in range(10)
        }
    finally:
        views.GALLERY_PAGE_SIZE = page_size


def test_newer_links_walk_back_to_the_first_page(tester_client, tester):
    from generation import views

    views.GALLERY_PAGE_SIZE, page_size = 4, views.GALLERY_PAGE_SIZE
    try:
        for index in range(10):
            job = RenderJobFactory(owner=tester, prompt=f"clip {index}")
            RenderJob.objects.filter(pk=job.pk).update(queued_at=timezone.now() - timedelta(minutes=index))
        first = tester_client.get(GALLERY)
        html = first.content.decode()
        assert 'rel="prev"' not in html
        second = tester_client.get(
            GALLERY + re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
        )
        back = re.search(r'href="([^"]+)" rel="prev"', second.content.decode()).group(1).replace("&amp;", "&")

        assert _card_ids(tester_client.get(GALLERY + back)) == _card_ids(first)
        assert set(_card_ids(second)).isdisjoint(_card_ids(first)) and len(_card_ids(second)) == 4
    finally:
        views.GALLERY_PAGE_SIZE = page_size


def test_the_gallery_costs_the_same_queries_for_3_or_24_clips(tester_client, tester, django_assert_max_num_queries):
    def fill(count):
        for index in range(count):
            RenderJobFactory(
                owner=tester, state=["succeeded", "queued", "running", "failed"][index % 4], poster="posters/x.jpg"
            )

    fill(3)
    tester_client.get(GALLERY)  # the session's first request notes its network once
    # 13 sign-in, access and leak checks; 1 red-team link; 4 for the header's links (who sees what)
    with django_assert_max_num_queries(22) as few:
        assert tester_client.get(GALLERY).status_code == 200
    fill(21)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = tester_client.get(GALLERY)
    assert len(_card_ids(response)) == 24
    print(f"gallery queries: {len(few)} for 3 clips, {len(many)} for 24")


# --- The clip page ---------------------------------------------------------------------------------


def test_a_running_clip_shows_step_elapsed_and_expected_finish(tester_client, tester):
    started = timezone.now() - timedelta(seconds=30)
    job = RenderJobFactory(
        owner=tester, state="running", progress_step=3, progress_total=12, num_steps=12, started_at=started
    )

    html = tester_client.get(job.get_absolute_url()).content.decode()

    assert "step 3 of 12" in html
    assert re.search(r"(30|31) s elapsed", html)
    finish = estimates.estimated_finish(job)
    assert timedelta(seconds=85) < finish - timezone.now() < timedelta(seconds=95), "9 steps left at 10 s a step"
    assert "expected to finish around" in html
    for setting in ("Seed</dt><dd>42", "Steps</dt><dd>12", "128×128, 9 frames", "24 fps"):
        assert setting in html


# --- Deleting ---------------------------------------------------------------------------------------


def test_deleting_a_clip_removes_its_files_and_links_but_keeps_its_row(tester, smoke_model, client):
    job = _rendered(tester)
    video_link, poster_link = media_url(job), media_url(job, poster=True)
    charged = job.charged_seconds
    grant_used = quota.grant_usage(job.grant)["seconds_total"]
    client.force_login(tester)

    confirm = client.get(reverse("generation:job_delete", args=[job.pk]))
    response = client.post(reverse("generation:job_delete", args=[job.pk]))

    assert confirm.status_code == 200 and "Delete clip" in confirm.content.decode()
    assert response.status_code == 302 and response["Location"] == GALLERY
    deleted = RenderJob.objects.get(pk=job.pk)
    assert deleted.deleted_at is not None and deleted.state == "succeeded"
    assert (deleted.output.name, deleted.poster.name) == ("", "")
    assert not _stored(job.output.name) and not _stored(job.poster.name)
    assert deleted.charged_seconds == charged and quota.grant_usage(job.grant)["seconds_total"] == grant_used
    assert client.get(video_link).status_code == 403 and client.get(poster_link).status_code == 403
    assert str(job.pk) not in client.get(GALLERY).content.decode()
    assert client.get(job.get_absolute_url()).status_code == 404
    assert AuditEvent.objects.filter(
        action="generation.clip_deleted", actor=tester, target__contains=job.short_id
    ).exists()


def test_deleting_a_waiting_clip_cancels_and_refunds_it(tester_client, tester):
    job = submission.job_create(owner=tester, **job_settings("never mind"))
    assert quota.grant_usage(job.grant)["seconds_reserved"] == job.charged_seconds > 0

    tester_client.post(reverse("generation:job_delete", args=[job.pk]))

    job.refresh_from_db()
    assert job.state == "cancelled" and job.deleted_at and job.charged_seconds == 0
    assert quota.grant_usage(job.grant)["active_jobs"] == 0
    assert queue.job_claim_next(hint_id=job.pk, worker="w") is None


def test_a_render_deleted_mid_way_stops_at_its_next_step_and_stores_nothing(tester, smoke_model):
    from generation.runner import RenderStopped

    job = RenderJobFactory(owner=tester, grant=tester.grants.get())
    claimed = queue.job_claim_next(hint_id=job.pk, worker="w")

    job_actions.job_delete(job=claimed)

    with pytest.raises(RenderStopped):
        render.job_progress(job=claimed, step=1, total=2)
    assert not render.job_succeed(job=claimed, video=b"mp4", device_seconds=1.0, encode_seconds=0.1, poster=b"jpg")
    assert not _stored(f"renders/{tester.pk}/{job.pk}.mp4") and not _stored(f"posters/{tester.pk}/{job.pk}.jpg")
    job.refresh_from_db()
    assert job.state == "cancelled" and job.charged_seconds == 0


def test_nobody_deletes_another_persons_clip(client, tester, tester2, outsider, smoke_model):
    job = _rendered(tester)
    for person in (tester2, outsider):
        client.force_login(person)
        assert client.get(reverse("generation:job_delete", args=[job.pk])).status_code == 404
        assert client.post(reverse("generation:job_delete", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.deleted_at is None and _stored(job.output.name)


def test_deleting_needs_a_post_with_a_csrf_token(tester, smoke_model):
    job = _rendered(tester)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(tester)

    assert browser.post(reverse("generation:job_delete", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.deleted_at is None
    page = browser.get(reverse("generation:job_delete", args=[job.pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert (
        browser.post(reverse("generation:job_delete", args=[job.pk]), {"csrfmiddlewaretoken": token}).status_code == 302
    )
    job.refresh_from_db()
    assert job.deleted_at is not None


def test_deleting_twice_changes_nothing_the_second_time(tester, smoke_model):
    job = _rendered(tester)
    assert job_actions.job_delete(job=job) is True
    first = job.deleted_at

    assert job_actions.job_delete(job=job) is False
    assert job.deleted_at == first
    assert AuditEvent.objects.filter(action="generation.clip_deleted").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_prompt_search_has_a_trigram_index_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'renderjob_prompt_trgm'")
        (definition,) = cursor.fetchone()
    assert "gin" in definition and "upper(prompt)" in definition.lower() and "gin_trgm_ops" in definition
