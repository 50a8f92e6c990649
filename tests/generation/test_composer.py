"""The generate page as a composer: chips drawn from each model's rules within the grant, Advanced folded,
variations only as many as may queue, the recent-clips column (own clips only, few queries), queueing through
htmx without leaving the page; and the API's remix with a new seed unless the seed is kept."""

import math

import pytest
from django.urls import reverse

from access.grants import grant_update
from generation import composer
from generation.models import RenderJob
from generation.registry import MODELS
from generation.render_settings import job_validate
from generation.submission import job_create
from tests.factories import RenderJobFactory, stored_image
from tests.generation.job_requests import PAGE_FORM as GOOD
from tests.generation.job_requests import SETTINGS

pytestmark = pytest.mark.django_db

# As htmx sends a Render or a change of model: its target is the form.
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "job-form"}


def _valid(spec, grant, **settings) -> dict:
    small = {"num_frames": spec.frame_step + 1, "width": spec.min_size, "height": spec.min_size, "num_steps": 4}
    full = spec.default_settings() | small | settings
    return job_validate(prompt="p", negative_prompt="", model_key=spec.key, seed=None, grant=grant, **full)


@pytest.mark.parametrize("key", list(MODELS))
def test_every_chip_is_a_size_and_length_the_model_renders(key, tester):
    spec = MODELS[key]
    grant = tester.grants.get()
    for limits in ({}, {"max_width": 512, "max_height": 384, "max_frames": 49}):
        if limits:
            grant_update(grant=grant, **limits)
            grant.refresh_from_db()
        sizes = composer.aspect_chips(spec, grant)
        assert [chip.label for chip in sizes] == ["16:9", "9:16", "1:1", "4:3"]
        for chip in sizes:
            assert _valid(spec, grant, width=chip.width, height=chip.height) == {}, (key, chip)
        lengths = composer.duration_chips(spec, grant)
        assert lengths, key
        assert len({chip.frames for chip in lengths}) == len(lengths)
        for chip in lengths:
            assert chip.frames > 1 and _valid(spec, grant, num_frames=chip.frames) == {}, (key, chip)
            assert chip.seconds == pytest.approx(chip.frames / spec.fps)


def test_chips_keep_the_shape_near_the_ratio_and_the_model_s_own_size():
    ltx, wan = MODELS["ltx-video"], MODELS["wan2.1-1.3b"]
    sizes = {chip.label: (chip.width, chip.height) for chip in composer.aspect_chips(ltx)}
    for label, (width, height) in sizes.items():
        across, down = map(int, label.split(":"))
        assert abs(math.log(width / height / (across / down))) < math.log1p(composer.RATIO_TOLERANCE), label
    assert sizes["1:1"] == (576, 576) and sizes["16:9"] == (800, 448)
    wan_sizes = {chip.label: (chip.width, chip.height) for chip in composer.aspect_chips(wan)}
    assert wan_sizes["16:9"] == (832, 480) and wan_sizes["9:16"] == (480, 832)  # Wan's own 480p sizes
    lengths = [chip.label for chip in composer.duration_chips(ltx)]
    assert lengths == ["1.0 s", "2.0 s", "3.0 s", "5.0 s", "8.0 s", "10.0 s"]


def test_the_page_draws_the_chips_for_the_chosen_model_and_presses_the_matching_one(tester_client):
    page = tester_client.get(reverse("generation:job_create")).content.decode()
    assert 'data-width="800" data-height="448" aria-pressed="false">16:9 <small>800×448</small>' in page
    assert 'data-frames="121" aria-pressed="true">5.0 s</button>' in page  # LTX's default length
    assert "704×480 px, 5.0 s (121 frames at 24 fps)" in page

    wan = tester_client.get(reverse("generation:job_create"), {"model_key": "wan2.1-1.3b"}, **HTMX).content.decode()
    assert wan.lstrip().startswith('<form id="job-form"') and "<html" not in wan
    assert 'data-width="832" data-height="480" aria-pressed="true">16:9' in wan
    assert 'data-frames="81" aria-pressed="true">5.1 s</button>' in wan


def test_the_prompt_comes_first_and_the_mode_is_a_row_of_tabs(tester_client):
    page = tester_client.get(reverse("generation:job_create")).content.decode()
    form = page[page.index('<form id="job-form"') :]
    assert form.index('name="prompt"') < form.index('name="mode"') < form.index('name="model_key"')
    assert '<label class="tab" for="id_mode_0"><input type="radio" name="mode" value="text_to_video"' in page


def test_advanced_is_folded_unless_one_of_its_settings_is_changed_or_wrong(tester_client, tester):
    def advanced(page):
        return page[page.index('<details class="advanced"') :].split(">", 1)[0]

    page = tester_client.get(reverse("generation:job_create")).content.decode()
    assert "open" not in advanced(page)
    for field in ("num_steps", "guidance_scale", "seed", "negative_prompt"):
        assert f'name="{field}"' in page[page.index('<details class="advanced"') :]

    remix = RenderJobFactory(owner=tester, num_steps=7)  # not LTX's default 30
    assert "open" in advanced(tester_client.get(reverse("generation:job_create"), {"remix": remix.pk}).content.decode())

    refused = tester_client.post(reverse("generation:job_create"), {**GOOD, "width": "250"})
    assert refused.status_code == 400 and "open" in advanced(refused.content.decode())
    assert not RenderJob.objects.exclude(pk=remix.pk).exists()


def test_variations_offer_only_what_may_queue_now(tester_client, tester):
    grant_update(grant=tester.grants.get(), max_queued_jobs=5)
    page = tester_client.get(reverse("generation:job_create")).content.decode()
    assert '<option value="4">4 clips</option>' in page

    job_create(owner=tester, **{**SETTINGS, "prompt": "waiting"})
    job_create(owner=tester, **{**SETTINGS, "prompt": "waiting too"})
    page = tester_client.get(reverse("generation:job_create")).content.decode()
    assert '<option value="2">2 clips</option>' in page and '<option value="4">' not in page

    grant_update(grant=tester.grants.get(), max_queued_jobs=1)
    page = tester_client.get(reverse("generation:job_create")).content.decode()
    assert '<option value="1" selected>1 clip</option>' in page and '<option value="2">' not in page


def test_the_recent_column_shows_only_my_own_newest_clips(tester_client, tester, tester2):
    mine = [RenderJobFactory(owner=tester, prompt=f"mine {n}") for n in range(8)]
    RenderJobFactory(owner=tester2, prompt="somebody else's")
    gone = RenderJobFactory(owner=tester, prompt="deleted one")
    gone.deleted_at = gone.queued_at
    gone.save(update_fields=["deleted_at"])

    for response in (
        tester_client.get(reverse("generation:job_recent")),
        tester_client.get(reverse("generation:job_create")),
    ):
        html = response.content.decode()
        assert response.status_code == 200
        assert "somebody else" not in html and "deleted one" not in html
        assert html.count('class="clip-card recent-clip"') == composer.RECENT_COUNT
        assert "mine 7" in html and "mine 0" not in html  # the newest first
    assert mine


def test_the_recent_column_answers_204_while_nothing_in_it_changed(tester_client, tester):
    job = RenderJobFactory(owner=tester, state=RenderJob.State.QUEUED)
    first = tester_client.get(reverse("generation:job_recent")).content.decode()
    version = first.split("?v=", 1)[1].split('"', 1)[0]

    assert tester_client.get(reverse("generation:job_recent"), {"v": version}).status_code == 204
    RenderJob.objects.filter(pk=job.pk).update(state=RenderJob.State.RUNNING, progress_step=1)
    changed = tester_client.get(reverse("generation:job_recent"), {"v": version})
    assert changed.status_code == 200 and "step 1 of" in changed.content.decode()


def test_the_recent_column_costs_the_same_few_queries_for_one_clip_or_many(tester_client, tester):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    RenderJobFactory(owner=tester, state=RenderJob.State.SUCCEEDED)
    tester_client.get(reverse("generation:job_recent"))  # the session's first request may write
    with CaptureQueriesContext(connection) as one:
        tester_client.get(reverse("generation:job_recent"))
    for _ in range(7):
        RenderJobFactory(owner=tester, state=RenderJob.State.SUCCEEDED)
    with CaptureQueriesContext(connection) as many:
        tester_client.get(reverse("generation:job_recent"))
    # The site's own per-request checks (session, access, terms) are the rest; the column itself asks once.
    assert len(many) == len(one)
    assert [query["sql"] for query in many if "generation_renderjob" in query["sql"]] == [many[-1]["sql"]]


def test_finished_clips_play_on_hover_and_fetch_nothing_before(tester_client, tester):
    # The links are only signed here, not followed: names stand in for the files.
    RenderJobFactory(owner=tester, state=RenderJob.State.SUCCEEDED, output="clips/a.mp4", poster="posters/a.jpg")
    for url in (reverse("generation:job_recent"), reverse("generation:job_list")):
        html = tester_client.get(url).content.decode()
        assert "data-hover-play" in html, url
        assert '<video class="hover-play" src="/clips/media/' in html and 'preload="none"' in html, url
        assert "/static/generation/hover_play.js" in html or url.endswith("recent/"), url


def test_queueing_through_htmx_stays_on_the_composer_and_tells_the_column(tester_client, tester):
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "seed": "", "num_steps": "5"}, **HTMX)

    job = RenderJob.objects.get()
    html = response.content.decode()
    assert response.status_code == 200 and "clip-queued" in response["HX-Trigger"]
    assert f'Queued <a href="{job.get_absolute_url()}">clip {job.short_id}</a>' in html
    assert "a fox running through snow" in html and 'name="num_steps" value="5"' in html  # kept for the next one
    # Only the form htmx keeps: not the layout, the presets or the recent column (the event refreshes that).
    assert html.lstrip().startswith('<form id="job-form"') and html.rstrip().endswith("</form>")
    assert "<html" not in html and "recent-" not in html and "<nav" not in html

    refused = tester_client.post(reverse("generation:job_create"), {**GOOD, "prompt": ""}, **HTMX)
    assert refused.status_code == 400 and "This field is required." in refused.content.decode()
    assert "<html" not in refused.content.decode()
    assert "HX-Trigger" not in refused and RenderJob.objects.count() == 1


def test_without_htmx_a_queued_clip_still_opens_its_page(tester_client):
    response = tester_client.post(reverse("generation:job_create"), GOOD)
    assert response.status_code == 302 and response["Location"] == RenderJob.objects.get().get_absolute_url()


# The API's remix.


def _remix(api, job, body=None):
    return api.post(f"/api/v1/jobs/{job.pk}/remix/", body or {}, format="json")


def test_an_api_remix_has_the_clip_s_settings_and_a_new_seed(api, tester):
    clip = job_create(owner=tester, prompt="a lighthouse at dusk", seed=777, negative_prompt="blur", **SETTINGS)

    response = _remix(api, clip)

    assert response.status_code == 201, response.json()
    remix = RenderJob.objects.get(pk=response.json()["id"])
    assert response["Location"].endswith(f"/api/v1/jobs/{remix.pk}/")
    assert (remix.prompt, remix.negative_prompt, remix.num_frames, remix.width, remix.num_steps) == (
        "a lighthouse at dusk",
        "blur",
        25,
        256,
        4,
    )
    assert remix.seed != 777 and remix.charged_seconds > 0


def test_an_api_remix_keeps_the_seed_when_asked_and_takes_changes(api, tester):
    clip = job_create(owner=tester, prompt="a lighthouse at dusk", seed=777, **SETTINGS)

    response = _remix(api, clip, {"keep_seed": True, "prompt": "a lighthouse at dawn", "num_steps": 6})

    assert response.status_code == 201, response.json()
    remix = RenderJob.objects.get(pk=response.json()["id"])
    assert (remix.seed, remix.prompt, remix.num_steps) == (777, "a lighthouse at dawn", 6)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keep_seed": True, "seed": 5}, "seed"),
        ({"width": 250}, "width"),
        ({"prompt": ""}, "prompt"),
        ({"keep_seed": "maybe"}, "keep_seed"),
        ({"model_key": "sora"}, "model_key"),
    ],
)
def test_a_bad_api_remix_is_a_400_and_charges_nothing(api, tester, body, field):
    clip = job_create(owner=tester, prompt="a lighthouse at dusk", seed=777, **SETTINGS)
    response = _remix(api, clip, body)
    assert response.status_code == 400 and field in response.json(), response.json()
    assert RenderJob.objects.count() == 1


def test_nobody_remixes_another_person_s_clip(api, tester2):
    theirs = job_create(owner=tester2, prompt="theirs", seed=3, **SETTINGS)
    assert _remix(api, theirs).status_code == 404
    assert RenderJob.objects.count() == 1


def test_the_schema_describes_the_remix(api):
    schema = api.get(reverse("api-schema"), {"format": "json"}).json()
    remix = schema["paths"]["/api/v1/jobs/{id}/remix/"]["post"]
    assert "new random seed unless keep_seed" in remix["description"]
    assert "keep_seed" in schema["components"]["schemas"]["RenderJobRemix"]["properties"]


# The page's Remix keeps the mode and its inputs, as the API's does (both start from remix.remix_request).


def _keyframes_clip(owner, seed=777):
    first, last = stored_image(owner), stored_image(owner, colour=(10, 10, 200))
    return job_create(
        owner=owner, prompt="a door opens", seed=seed, mode="keyframes", image=first, last_image=last, **SETTINGS
    )


def _page_remix_post(client, clip, **changes):
    """What the browser posts from the remix page: the form's own fields as the page filled them."""
    page = client.get(reverse("generation:job_create"), {"remix": clip.pk})
    form = page.context["form"]
    data = {name: form[name].value() for name in form.fields if name not in ("image", "last_image")}
    data = {name: "" if value is None else value for name, value in data.items()}
    data["keep_seed"] = ""
    return client.post(reverse("generation:job_create") + f"?remix={clip.pk}", data | changes)


def test_the_page_s_remix_keeps_the_mode_and_its_images(tester_client, tester):
    clip = _keyframes_clip(tester)

    page = tester_client.get(reverse("generation:job_create"), {"remix": clip.pk}).content.decode()
    assert f'name="kept_image" value="{clip.image_id}"' in page
    assert f'name="kept_last_image" value="{clip.last_image_id}"' in page
    assert 'value="keyframes"' in page and "checked" in page.split('value="keyframes"')[1].split(">")[0]
    assert "Keeps the clip&#x27;s own image" in page

    response = _page_remix_post(tester_client, clip)

    assert response.status_code == 302, response.context["form"].errors
    remix = RenderJob.objects.exclude(pk=clip.pk).get()
    assert (remix.mode, remix.image_id, remix.last_image_id) == ("keyframes", clip.image_id, clip.last_image_id)
    assert remix.seed != clip.seed and remix.prompt == clip.prompt


def test_the_page_and_the_api_remix_the_same_way(tester_client, tester, api):
    clip = _keyframes_clip(tester)
    _page_remix_post(tester_client, clip, keep_seed="on")
    assert _remix(api, clip, {"keep_seed": True}).status_code == 201
    page_remix, api_remix = RenderJob.objects.exclude(pk=clip.pk).order_by("queued_at")

    fields = ("mode", "image_id", "last_image_id", "source_id", "strength", "seed", "prompt", "num_frames", "width")
    assert [getattr(page_remix, name) for name in fields] == [getattr(api_remix, name) for name in fields]
    assert page_remix.seed == 777


def test_a_page_remix_cannot_borrow_another_person_s_image(tester_client, tester, tester2):
    clip = _keyframes_clip(tester)
    theirs = stored_image(tester2)

    response = _page_remix_post(tester_client, clip, kept_image=str(theirs.pk))

    assert response.status_code == 400
    assert "No such uploaded image." in response.content.decode()
    assert RenderJob.objects.count() == 1
