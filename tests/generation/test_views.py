import pytest
from django.urls import reverse

from generation.job_actions import job_cancel
from generation.models import RenderJob
from generation.registry import model_get
from tests.factories import RenderJobFactory
from tests.generation.job_requests import PAGE_FORM as GOOD
from tests.generation.job_requests import SETTINGS

pytestmark = pytest.mark.django_db


def test_pages_need_sign_in(client):
    job = RenderJobFactory()
    for url in [
        reverse("generation:job_list"),
        reverse("generation:job_create"),
        reverse("generation:job_detail", args=[job.pk]),
        reverse("generation:job_status", args=[job.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    assert client.get(reverse("generation:job_video", args=[job.pk])).status_code == 403


def test_the_form_offers_the_models_defaults(tester_client):
    response = tester_client.get(reverse("generation:job_create"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="121"' in html and 'value="704"' in html and "LTX-Video" in html


def test_submitting_the_form_queues_a_job_and_shows_it(tester_client, tester):
    response = tester_client.post(reverse("generation:job_create"), GOOD)

    job = RenderJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.owner, job.state, job.num_frames, job.width, job.height) == (tester, "queued", 25, 256, 192)
    assert 0 <= job.seed < 2**32
    page = tester_client.get(job.get_absolute_url()).content.decode()
    assert "a fox running through snow" in page
    assert 'hx-get="{}?t='.format(reverse("generation:job_progress", args=[job.pk])) in page
    assert '<progress id="job-progress"' in page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"prompt": ""}, "prompt", "This field is required."),
        ({"prompt": "   "}, "prompt", "This field is required."),
        ({"prompt": "x" * 2000}, "prompt", "limited to 1000 characters"),
        ({"num_frames": "24"}, "num_frames", "8k+1"),
        ({"width": "250"}, "width", "multiple of 32"),
        ({"height": "4096"}, "height", "multiple of 32"),
        ({"model_key": "sora"}, "model_key", "Select a valid choice"),
        ({"num_steps": "-5"}, "num_steps", "greater than or equal to 1"),
        ({"num_steps": "many"}, "num_steps", "Enter a whole number"),
        ({"seed": "-1"}, "seed", "greater than or equal to 0"),
    ],
)
def test_bad_input_shows_a_clear_error_and_queues_nothing(tester_client, change, field, message):
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, **change})

    assert response.status_code == 400
    assert message in response.context["form"].errors[field][0]
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not RenderJob.objects.exists()


def test_the_list_shows_only_my_jobs(tester_client, tester, tester2):
    mine = RenderJobFactory(owner=tester, prompt="my own clip")
    RenderJobFactory(owner=tester2, prompt="somebody else's clip")

    html = tester_client.get(reverse("generation:job_list")).content.decode()

    assert "my own clip" in html and mine.short_id in html
    assert "somebody else" not in html


def test_nobody_sees_or_touches_another_persons_job(client, tester, outsider, smoke_model):
    from generation.render import job_render

    job = RenderJobFactory(owner=tester)
    job_render(job_id=job.pk, worker="w")
    client.force_login(outsider)

    for name in ["job_detail", "job_status", "job_video"]:
        assert client.get(reverse(f"generation:{name}", args=[job.pk])).status_code == 404, name
    assert client.post(reverse("generation:job_cancel", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.state == "succeeded"


def test_the_owner_gets_the_clip_through_a_signed_link(tester_client, tester, smoke_model):
    from generation.render import job_render

    job = RenderJobFactory(owner=tester)
    job_render(job_id=job.pk, worker="w")

    redirect = tester_client.get(reverse("generation:job_video", args=[job.pk]))
    response = tester_client.get(redirect["Location"])

    assert redirect.status_code == 302 and "/clips/media/" in redirect["Location"]
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Cache-Control"] == "private, no-store"
    assert b"ftyp" in b"".join(response.streaming_content)[:16]
    status = tester_client.get(reverse("generation:job_status", args=[job.pk])).content.decode()
    assert "<video" in status and "/clips/media/" in status and "hx-get" not in status
    attachment = tester_client.get(reverse("generation:job_video", args=[job.pk]) + "?download=1", follow=True)
    assert attachment["Content-Disposition"].startswith("attachment;")


def test_a_media_link_expires(tester, smoke_model, settings, client):
    from generation.media import media_url
    from generation.render import job_render

    job = RenderJobFactory(owner=tester)
    job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    link = media_url(job)
    assert client.get(link).status_code == 200, "a signed link works without a session"

    settings.BACKLOT_MEDIA_LINK_SECONDS = -1
    expired = client.get(link)
    forged = client.get(link[:-6] + "AAAAA/")

    assert expired.status_code == 403 and "expired" in expired.content.decode()
    assert forged.status_code == 403 and "not valid" in forged.content.decode()


def test_a_media_link_answers_403_once_its_owner_is_suspended(tester, admin_user, smoke_model, client):
    from access.suspensions import suspend
    from generation.media import media_url
    from generation.render import job_render

    job = RenderJobFactory(owner=tester, grant=tester.grants.get())
    job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    link = media_url(job)
    suspend(programme=job.grant.programme, user=tester, reason="Leaked", actor=admin_user)

    response = client.get(link)

    assert response.status_code == 403 and "Leaked" in response.content.decode()


def test_another_signed_in_person_cannot_use_my_link(tester, tester2, smoke_model, client):
    from generation.media import media_url
    from generation.render import job_render

    job = RenderJobFactory(owner=tester)
    job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    client.force_login(tester2)
    assert client.get(media_url(job)).status_code == 404


def test_downloads_need_a_grant_that_allows_them(tester, smoke_model, client):
    from access.grants import grant_update
    from generation.media import media_url
    from generation.render import job_render

    job = RenderJobFactory(owner=tester, grant=tester.grants.get())
    job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    grant_update(grant=job.grant, downloads_allowed=False)
    assert client.get(media_url(job, download=True)).status_code == 403
    assert client.get(media_url(job)).status_code == 200


def test_an_unfinished_job_has_no_video(tester_client, tester):
    job = RenderJobFactory(owner=tester)
    assert tester_client.get(reverse("generation:job_video", args=[job.pk])).status_code == 404


def test_the_owner_can_cancel_a_queued_job(tester_client, tester):
    job = RenderJobFactory(owner=tester)

    response = tester_client.post(reverse("generation:job_cancel", args=[job.pk]))

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == "cancelled"
    status = tester_client.get(reverse("generation:job_status", args=[job.pk])).content.decode()
    assert "Cancelled by its owner." in status and "hx-get" not in status


def test_cancelling_needs_post(tester_client, tester):
    job = RenderJobFactory(owner=tester)
    assert tester_client.get(reverse("generation:job_cancel", args=[job.pk])).status_code == 405
    assert not job_cancel(job=RenderJobFactory(owner=tester, state="succeeded"))


def test_a_deactivated_account_cannot_submit(client, tester):
    client.force_login(tester)
    tester.is_active = False
    tester.save()
    response = client.post(reverse("generation:job_create"), GOOD)
    assert response.status_code in (302, 403)
    assert not RenderJob.objects.exists()


def test_the_form_shows_the_estimate_and_what_the_grant_has_left(tester_client, tester):
    from generation.registry import model_get
    from generation.submission import job_create

    small = {"num_frames": 25, "width": 256, "height": 192, "num_steps": 4, "guidance_scale": 3.0}
    job_create(owner=tester, prompt="earlier", model_key="ltx-video", **small)
    expected = model_get("ltx-video").estimate_gpu_seconds(num_frames=121, width=704, height=480, num_steps=30)

    default = {**GOOD, "num_frames": "121", "width": "704", "height": "480", "num_steps": "30"}
    html = tester_client.get(reverse("generation:job_estimate"), default).content.decode()
    bad = tester_client.get(reverse("generation:job_estimate"), {**GOOD, "num_frames": "24"}).content.decode()

    assert f'about <strong class="estimate-seconds">{expected:.0f}</strong> GPU seconds' in html
    assert "Left on your grant: 99998 s today" in html
    assert "Fix the settings" in bad
    no_prompt = tester_client.get(reverse("generation:job_estimate"), {**default, "prompt": ""}).content.decode()
    assert f'<strong class="estimate-seconds">{expected:.0f}</strong>' in no_prompt, "shown before a prompt is written"
    assert 'hx-get="/clips/new/estimate/"' in tester_client.get(reverse("generation:job_create")).content.decode()


def test_the_estimate_needs_sign_in(client):
    assert client.get(reverse("generation:job_estimate")).status_code == 302


def test_variations_queue_one_job_per_seed(tester_client, tester):
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "seed": "41", "variations": "4"})

    assert response.status_code == 302 and response["Location"] == reverse("generation:job_list")
    jobs = RenderJob.objects.order_by("seed")
    assert [job.seed for job in jobs] == [41, 42, 43, 44]
    assert {job.prompt for job in jobs} == {GOOD["prompt"]} and all(job.charged_seconds > 0 for job in jobs)
    assert "4 variations queued, seeds 41 to 44" in tester_client.get(response["Location"]).content.decode()


def test_variations_are_all_or_nothing_and_the_refusal_says_what_happened(tester_client, tester):
    from access.grants import grant_update

    grant_update(grant=tester.grants.get(), max_queued_jobs=3)
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "variations": "4"})

    said = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 400
    assert "You asked for 4 variations; your grant lets 3 jobs wait or run at once, and you have 0 now." in said
    assert "You already have" not in said
    assert not RenderJob.objects.exists()


def test_variations_are_offered_only_up_to_what_the_grant_lets_queue_now(tester_client, tester):
    from access.grants import grant_update
    from generation.submission import job_create

    grant_update(grant=tester.grants.get(), max_queued_jobs=3)
    page = tester_client.get(reverse("generation:job_create")).content.decode()
    assert '<option value="2">2 clips</option>' in page and '<option value="4">' not in page

    job_create(owner=tester, **{**SETTINGS, "prompt": "waiting"})
    job_create(owner=tester, **{**SETTINGS, "prompt": "waiting too"})
    page = tester_client.get(reverse("generation:job_create")).content.decode()
    assert '<option value="1" selected>1 clip</option>' in page and '<option value="2">' not in page

    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "variations": "2"})
    said = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 400
    assert "You asked for 2 variations; your grant lets 3 jobs wait or run at once, and you have 2 now." in said
    assert RenderJob.objects.count() == 2


def test_the_estimate_counts_the_variations_against_what_is_left(tester_client, tester):
    from access.grants import grant_update

    each = model_get("ltx-video").estimate_gpu_seconds(num_frames=25, width=256, height=192, num_steps=4)
    four = tester_client.get(reverse("generation:job_estimate"), {**GOOD, "variations": "4"}).content.decode()
    assert f'These 4 clips reserve about <strong class="estimate-seconds">{each * 4:.0f}</strong>' in four
    assert f"({each:.0f} each)" in four and "more than your grant has left" not in four

    grant_update(grant=tester.grants.get(), gpu_seconds_per_day=int(each * 3))
    short = tester_client.get(reverse("generation:job_estimate"), {**GOOD, "variations": "4"}).content.decode()
    assert "That is more than your grant has left." in short
    one = tester_client.get(reverse("generation:job_estimate"), {**GOOD, "variations": "1"}).content.decode()
    assert f'This clip reserves about <strong class="estimate-seconds">{each:.0f}</strong>' in one
    assert "more than your grant has left" not in one

    grant_update(grant=tester.grants.get(), max_queued_jobs=2)
    refused = tester_client.get(reverse("generation:job_estimate"), {**GOOD, "variations": "4"}).content.decode()
    assert "You asked for 4 variations; your grant lets 2 jobs wait or run at once" in refused.replace("&#x27;", "'")


@pytest.mark.parametrize("count", ["3", "0", "many"])
def test_only_1_2_or_4_variations(tester_client, count):
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "variations": count})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not RenderJob.objects.exists()


def test_remix_starts_from_a_clip_s_settings_with_a_new_seed(tester_client, tester, tester2):
    mine = RenderJobFactory(owner=tester, prompt="a lighthouse at dusk", seed=777, num_steps=7)
    theirs = RenderJobFactory(owner=tester2)

    form = tester_client.get(reverse("generation:job_create"), {"remix": str(mine.pk)}).content.decode()

    assert "a lighthouse at dusk" in form and 'value="7"' in form
    assert 'name="seed" min="0"' in form and 'name="seed" value="777"' not in form  # empty: a new random seed
    assert '<input type="hidden" name="remix_seed" value="777"' in form
    assert 'name="keep_seed"' in form and "Keep the seed (777)" in form
    assert '<textarea name="prompt" cols="40" rows="3" maxlength="1000" autofocus' in form  # open for editing
    assert tester_client.get(reverse("generation:job_create"), {"remix": str(theirs.pk)}).status_code == 404
    assert tester_client.get(reverse("generation:job_create"), {"remix": "not-a-uuid"}).status_code == 404
    assert f"?remix={mine.pk}" in tester_client.get(mine.get_absolute_url()).content.decode()
    assert 'name="keep_seed"' not in tester_client.get(reverse("generation:job_create")).content.decode()


def test_an_unedited_remix_renders_a_new_seed_unless_the_seed_is_kept(tester_client, tester):
    remix = {**GOOD, "seed": "", "remix_seed": "777"}

    tester_client.post(reverse("generation:job_create"), remix)
    tester_client.post(reverse("generation:job_create"), {**remix, "keep_seed": "on"})
    tester_client.post(reverse("generation:job_create"), {**remix, "keep_seed": "on", "variations": "2"})

    new, kept, *variations = RenderJob.objects.order_by("queued_at", "seed")
    assert new.seed != 777 and kept.seed == 777
    assert [job.seed for job in variations] == [777, 778]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"keep_seed": "on"}, "keep_seed", "There is no seed to keep"),
        ({"keep_seed": "on", "remix_seed": "777", "seed": "5"}, "seed", "Either keep the clip's seed (777)"),
        ({"keep_seed": "on", "remix_seed": "-3"}, "remix_seed", "greater than or equal to 0"),
    ],
)
def test_keeping_a_seed_that_is_not_there_is_refused(tester_client, change, field, message):
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, **change})

    assert response.status_code == 400 and message in response.context["form"].errors[field][0]
    assert not RenderJob.objects.exists()


def test_each_mode_input_says_which_modes_take_it(tester_client):
    page = tester_client.get(reverse("generation:job_create")).content.decode()

    assert 'class="field field-image" data-modes="image_to_video keyframes"' in page
    assert 'class="field field-last_image" data-modes="keyframes"' in page
    assert 'class="field field-strength" data-modes=""' in page  # LTX-Video has no restyle
    assert 'class="field field-prompt">' in page
    assert '<script src="/static/generation/mode_fields.js" defer></script>' in page


def test_the_form_offers_only_what_the_model_renders_and_the_grant_allows(tester_client, tester):
    grant = tester.grants.get()
    grant.max_frames, grant.max_width = 49, 512
    grant.save()

    page = tester_client.get(reverse("generation:job_create")).content.decode()

    assert '<option value="49" selected>2.0 s (49 frames)</option>' in page
    assert '<option value="41">1.7 s (41 frames)</option>' in page
    assert 'value="57"' not in page and 'value="48"' not in page  # beyond the grant; not 8k+1
    assert 'name="width" value="512" min="128" max="512" step="32"' in page  # 704 is wider than the grant allows


def test_choosing_another_model_redraws_the_form_keeping_the_prompt(tester_client):
    page = tester_client.get(
        reverse("generation:job_create"),
        {"model_key": "wan2.1-1.3b", "prompt": "a heron at dusk", "num_frames": "121", "seed": "7"},
        HTTP_HX_REQUEST="true",
    ).content.decode()

    spec = model_get("wan2.1-1.3b")
    assert "a heron at dusk" in page and 'value="7"' in page
    assert f'<option value="{spec.default_frames}" selected>' in page  # Wan's default, not LTX's 121
    assert f'name="width" value="{spec.default_width}" min="{spec.min_size}"' in page


def test_a_media_link_answers_a_byte_range_so_players_can_seek(tester, tester2, admin_user, smoke_model, client):
    from access.suspensions import suspend
    from generation.media import media_url
    from generation.render import job_render

    job = RenderJobFactory(owner=tester, grant=tester.grants.get())
    job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    link = media_url(job)
    whole = job.output.open("rb").read()
    job.output.close()
    middle = len(whole) // 2

    part = client.get(link, HTTP_RANGE=f"bytes={middle}-{middle + 99}")
    tail = client.get(link, HTTP_RANGE="bytes=-16")
    past = client.get(link, HTTP_RANGE=f"bytes={len(whole)}-")
    full = client.get(link)

    assert part.status_code == 206 and b"".join(part.streaming_content) == whole[middle : middle + 100]
    assert part["Content-Range"] == f"bytes {middle}-{middle + 99}/{len(whole)}" and part["Content-Length"] == "100"
    assert part["Content-Type"] == "video/mp4" and part["Cache-Control"] == "private, no-store"
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == whole[-16:]
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(whole)}"
    assert full.status_code == 200 and full["Accept-Ranges"] == "bytes"
    assert b"".join(full.streaming_content) == whole

    client.force_login(tester2)
    other = client.get(link, HTTP_RANGE="bytes=0-99")
    assert other.status_code == 404 and "Content-Range" not in other, "another person gets no bytes, ranged or not"
    client.logout()
    suspend(programme=job.grant.programme, user=tester, reason="Leaked", actor=admin_user)
    revoked = client.get(link, HTTP_RANGE="bytes=0-99")
    assert revoked.status_code == 403 and "Content-Range" not in revoked and "Leaked" in revoked.content.decode()


def test_a_download_link_answers_a_range_as_an_attachment(tester, smoke_model, client):
    from generation.media import media_url
    from generation.render import job_render

    job = RenderJobFactory(owner=tester)
    job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    response = client.get(media_url(job, download=True), HTTP_RANGE="bytes=0-7")
    assert response.status_code == 206 and b"ftyp" in b"".join(response.streaming_content)
    assert response["Content-Disposition"] == f'attachment; filename="backlot-{job.short_id}.mp4"'
