"""The API's quota and models endpoints, the jobs list's filters, search and cursor pages, and DELETE."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from access.models import Grant
from access.tokens import token_create
from generation import estimates, quota, render
from generation.models import RenderJob
from generation.registry import MODELS
from tests.factories import RenderJobFactory
from tests.generation.job_requests import API_BODY as GOOD

pytestmark = pytest.mark.django_db

JOBS, QUOTA, MODELS_URL = "/api/v1/jobs/", "/api/v1/quota/", "/api/v1/models/"


def _token_client(user, *scopes) -> APIClient:
    _, token = token_create(user=user, name="-".join(scopes) or "none", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _ids(body) -> list[str]:
    return [job["id"] for job in body["results"]]


# --- Quota -----------------------------------------------------------------------------------------


def test_quota_reports_limits_use_reservations_and_what_is_left(api, tester):
    grant = tester.grants.get()
    RenderJobFactory(owner=tester, grant=grant, state="succeeded", charged_seconds=40)
    old = RenderJobFactory(owner=tester, grant=grant, state="succeeded", charged_seconds=100)
    RenderJob.objects.filter(pk=old.pk).update(queued_at=timezone.now() - timedelta(days=3))
    queued = api.post(JOBS, GOOD, format="json").json()
    reserved = RenderJob.objects.get(pk=queued["id"]).charged_seconds

    body = api.get(QUOTA).json()

    assert body["programme"] == "Alpha" and body["model_keys"] == [] and body["downloads_allowed"] is True
    assert (body["max_frames"], body["max_steps"], body["max_queued_jobs"]) == (257, 100, 10)
    assert body["gpu_seconds_reserved"] == pytest.approx(reserved)
    assert body["gpu_seconds_used_today"] == pytest.approx(40 + reserved)
    assert body["gpu_seconds_used_total"] == pytest.approx(140 + reserved)
    assert body["gpu_seconds_remaining_today"] == pytest.approx(grant.gpu_seconds_per_day - 40 - reserved)
    assert body["gpu_seconds_remaining_total"] == pytest.approx(grant.gpu_seconds_total - 140 - reserved)
    assert body["queued_jobs"] == 1


def test_quota_and_models_without_a_grant_are_a_clear_404(outsider):
    client = APIClient()
    client.force_authenticate(outsider)
    for url in (QUOTA, MODELS_URL):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == {"detail": "You have no current grant for the generation service."}


def test_quota_and_models_need_sign_in_and_the_read_scope(tester, anon_api):
    assert anon_api.get(QUOTA).status_code == 401 and anon_api.get(MODELS_URL).status_code == 401
    generate_only = _token_client(tester, "generate")
    reader = _token_client(tester, "read")
    for url in (QUOTA, MODELS_URL):
        refused = generate_only.get(url)
        assert refused.status_code == 403 and "'read' scope" in refused.json()["detail"]
        assert reader.get(url).status_code == 200


# --- Models ----------------------------------------------------------------------------------------


def test_models_lists_only_what_the_grant_allows_within_its_limits(api, tester):
    Grant.objects.filter(user=tester).update(
        model_keys=["ltx-video", "wan2.1-1.3b"], max_frames=100, max_width=512, max_steps=30
    )

    body = api.get(MODELS_URL).json()

    assert [model["key"] for model in body] == ["ltx-video", "wan2.1-1.3b"]
    ltx, wan = body
    assert (ltx["label"], ltx["fps"], ltx["frame_step"], ltx["size_multiple"]) == ("LTX-Video", 24, 8, 32)
    assert ltx["max_frames"] == 97 and wan["max_frames"] == 81, "the largest valid count within model and grant"
    assert (ltx["max_width"], ltx["max_height"], ltx["max_steps"], wan["max_width"]) == (512, 1280, 30, 512)
    assert ltx["defaults"] == MODELS["ltx-video"].default_settings()
    assert wan["defaults"]["guidance_scale"] == 5.0 and wan["min_steps"] == 1


def test_the_published_estimate_inputs_give_what_a_job_reserves(api):
    rules = {model["key"]: model for model in api.get(MODELS_URL).json()}["ltx-video"]
    assert len(rules) and "gpu_seconds_formula" in rules

    job = RenderJob.objects.get(pk=api.post(JOBS, GOOD, format="json").json()["id"])

    units = GOOD["num_frames"] * GOOD["width"] * GOOD["height"] * GOOD["num_steps"] / 1e6
    assert job.charged_seconds == pytest.approx(
        rules["gpu_seconds_fixed"] + rules["gpu_seconds_per_unit"] * units, abs=0.01
    )


# --- Listing jobs ----------------------------------------------------------------------------------


@pytest.fixture
def assorted(tester, tester2):
    now = timezone.now()
    jobs = {}
    for index, (prompt, model_key, state) in enumerate(
        [
            ("a red fox in the snow", "ltx-video", "succeeded"),
            ("a RED balloon", "cogvideox-2b", "failed"),
            ("a quiet forest", "ltx-video", "queued"),
            ("red leaves", "ltx-video", "succeeded"),
        ]
    ):
        job = RenderJobFactory(owner=tester, prompt=prompt, model_key=model_key, state=state)
        RenderJob.objects.filter(pk=job.pk).update(queued_at=now - timedelta(hours=index))
        jobs[prompt] = job
    RenderJobFactory(owner=tester2, prompt="red, but not yours", state="succeeded")
    return jobs, now


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["a red fox in the snow", "a RED balloon", "a quiet forest", "red leaves"]),
        ({"search": "red"}, ["a red fox in the snow", "a RED balloon", "red leaves"]),
        ({"search": "red", "state": "succeeded"}, ["a red fox in the snow", "red leaves"]),
        ({"model_key": "cogvideox-2b"}, ["a RED balloon"]),
        ({"created_after": -2.5}, ["a red fox in the snow", "a RED balloon", "a quiet forest"]),
        ({"created_after": -2.5, "created_before": -0.5}, ["a RED balloon", "a quiet forest"]),
    ],
)
def test_the_list_filters_and_searches_my_jobs(api, assorted, query, expected):
    jobs, now = assorted
    params = {
        key: (now + timedelta(hours=value)).isoformat() if key.startswith("created") else value
        for key, value in query.items()
    }

    body = api.get(JOBS, params).json()

    assert _ids(body) == [str(jobs[prompt].pk) for prompt in expected]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"state": "exploded"}, "state"),
        ({"model_key": "sora"}, "model_key"),
        ({"created_after": "last tuesday"}, "created_after"),
        ({"search": "x" * 201}, "search"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(api, assorted, query, field):
    response = api.get(JOBS, query)
    assert response.status_code == 400
    assert isinstance(response.json()[field][0], str)


def test_cursor_pages_neither_repeat_nor_skip_jobs_while_new_ones_arrive(api, tester):
    at = timezone.now() - timedelta(hours=1)
    for index in range(23):
        job = RenderJobFactory(owner=tester, prompt=f"clip {index}")
        # Seven share one timestamp: the cursor must also hold its place within a tie.
        RenderJob.objects.filter(pk=job.pk).update(queued_at=at - timedelta(seconds=max(0, index - 6)))
    expected = [str(pk) for pk in RenderJob.objects.order_by("-queued_at", "-id").values_list("pk", flat=True)]

    seen, url, pages = [], f"{JOBS}?page_size=5", 0
    while url:
        body = api.get(url).json()
        assert "count" not in body and "offset" not in url
        seen += _ids(body)
        url, pages = body["next"], pages + 1
        RenderJobFactory(owner=tester, prompt="arrived late")

    assert pages == 5 and seen == expected
    assert (
        _ids(api.get(JOBS, {"page_size": 1000}).json())
        and len(api.get(JOBS, {"page_size": 1000}).json()["results"]) == 28
    )
    bad = api.get(JOBS, {"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and "not valid" in bad.json()["cursor"][0]
    back = api.get(api.get(api.get(f"{JOBS}?page_size=5").json()["next"]).json()["previous"]).json()
    assert _ids(back) == _ids(api.get(f"{JOBS}?page_size=5").json()), "previous leads back to the first page"


def test_the_list_costs_the_same_queries_for_12_or_40_jobs(api, tester, django_assert_max_num_queries):
    def fill(count):
        for index in range(count):
            RenderJobFactory(
                owner=tester,
                model_key=["ltx-video", "cogvideox-2b", "mochi-1"][index % 3],
                state=["queued", "running", "succeeded", "failed"][index % 4],
                started_at=timezone.now(),
                progress_step=1,
            )

    fill(12)  # waiting jobs of three models: one query orders every model's queue; each model's recent
    # render time is read once for each of the registry's models, then cached for half a minute; one query
    # finds every listed job's derived clips (its lineage)
    with django_assert_max_num_queries(3 + len(MODELS)) as few:
        first = api.get(JOBS).json()
    fill(28)
    estimates.fair_orders_forget()  # the places are kept 2 s: these are worked out again, as the first were
    with django_assert_max_num_queries(len(few)) as many:
        body = api.get(JOBS).json()
    assert len(body["results"]) == 40 and len(first["results"]) == 12
    positions = {job["id"]: job["queue_position"] for job in body["results"] if job["state"] == "queued"}
    for job_id, position in positions.items():
        assert position == estimates.queue_position(RenderJob.objects.get(pk=job_id))
    running = next(job for job in body["results"] if job["state"] == "running")
    assert running["elapsed_seconds"] is not None and running["estimated_finish_at"]
    print(f"API list queries: {len(few)} for 12 jobs, {len(many)} for 40")


# --- Deleting --------------------------------------------------------------------------------------


def test_delete_removes_the_clip_and_its_links_and_keeps_the_charge(api, tester, smoke_model):
    job = RenderJobFactory(owner=tester, grant=tester.grants.get())
    render.job_render(job_id=job.pk, worker="w")
    before = api.get(f"{JOBS}{job.pk}/").json()
    poster = api.get(before["poster_url"])
    assert Image.open(io.BytesIO(b"".join(poster.streaming_content))).format == "JPEG"
    used = quota.grant_usage(job.grant)["seconds_total"]

    response = api.delete(f"{JOBS}{job.pk}/")

    assert response.status_code == 204
    assert api.get(f"{JOBS}{job.pk}/").status_code == 404
    assert str(job.pk) not in _ids(api.get(JOBS).json())
    assert api.get(before["video_url"]).status_code == 403 and api.get(before["poster_url"]).status_code == 403
    assert api.delete(f"{JOBS}{job.pk}/").status_code == 404
    assert quota.grant_usage(job.grant)["seconds_total"] == used
    job.refresh_from_db()
    assert job.deleted_at and not job.output and not job.poster


def test_delete_needs_the_generate_scope_and_the_owner(tester, tester2, smoke_model):
    job = RenderJobFactory(owner=tester, grant=tester.grants.get())
    intruder = APIClient()
    intruder.force_authenticate(tester2)

    refused = _token_client(tester, "read").delete(f"{JOBS}{job.pk}/")
    hidden = intruder.delete(f"{JOBS}{job.pk}/")

    assert refused.status_code == 403 and "'generate' scope" in refused.json()["detail"]
    assert hidden.status_code == 404
    job.refresh_from_db()
    assert job.deleted_at is None and job.state == "queued"
    assert _token_client(tester, "generate").delete(f"{JOBS}{job.pk}/").status_code == 204
    job.refresh_from_db()
    assert job.deleted_at and job.state == "cancelled" and job.charged_seconds == 0


def test_the_schema_describes_the_new_endpoints(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert {"/api/v1/quota/", "/api/v1/models/"} <= set(paths)
    assert "delete" in paths["/api/v1/jobs/{id}/"]
    listed = {parameter["name"] for parameter in paths["/api/v1/jobs/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "state", "model_key", "created_after", "created_before", "search"} <= listed
