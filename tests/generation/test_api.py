import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from generation.models import RenderJob
from tests.factories import RenderJobFactory
from tests.generation.job_requests import API_BODY as GOOD

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"


def test_the_api_needs_authentication(anon_api):
    response = anon_api.get(JOBS)
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert anon_api.post(JOBS, GOOD, format="json").status_code == 401
    assert not RenderJob.objects.exists()


def test_creating_a_job_queues_it(api, tester):
    response = api.post(JOBS, {**GOOD, "seed": 99, "negative_prompt": "blur"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    job = RenderJob.objects.get()
    assert body["id"] == str(job.pk)
    assert body["state"] == "queued" and body["video_url"] is None
    assert (body["seed"], body["negative_prompt"], body["progress_total"]) == (99, "blur", 4)
    assert job.owner == tester


def test_a_new_job_s_location_is_its_url(api):
    response = api.post(JOBS, GOOD, format="json")

    assert response.status_code == 201
    assert response["Location"] == f"http://testserver{JOBS}{response.json()['id']}/"
    assert api.get(response["Location"]).json()["id"] == response.json()["id"]


@pytest.mark.parametrize("path", ["/api/v1/jobs/0.5/cancel/", "/api/v1/nothing/", "/api/v2/"])
def test_an_api_path_that_matches_nothing_answers_json(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Not found."}


def test_a_body_in_a_media_type_the_api_does_not_read_is_refused(api):
    response = api.post(JOBS, "<job/>", content_type="application/xml")

    assert response.status_code == 415 and "application/xml" in response.json()["detail"]
    assert not RenderJob.objects.exists()


def test_a_page_that_matches_nothing_is_still_a_page(tester_client):
    response = tester_client.get("/no-such-page/")

    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_reading_a_job_reports_its_state(api, tester):
    job = RenderJobFactory(owner=tester, state="running", progress_step=1, progress_total=2)

    body = api.get(f"{JOBS}{job.pk}/").json()

    assert (body["state"], body["progress_step"], body["progress_percent"]) == ("running", 1, 50)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "y" * 2000}, "prompt"),
        ({"num_frames": 26}, "num_frames"),
        ({"width": 255}, "width"),
        ({"height": 0}, "height"),
        ({"model_key": "sora"}, "model_key"),
        ({"num_steps": -1}, "num_steps"),
        ({"num_steps": "ten"}, "num_steps"),
        ({"guidance_scale": 99}, "guidance_scale"),
        ({"seed": -4}, "seed"),
        ({"seed": 2**40}, "seed"),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_creates_nothing(api, change, field):
    response = api.post(JOBS, {**GOOD, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert isinstance(response.json()[field][0], str) and response.json()[field][0]
    assert not RenderJob.objects.exists()


def test_missing_fields_are_each_named(api):
    response = api.post(JOBS, {}, format="json")
    assert response.status_code == 400
    assert {"prompt", "model_key", "num_frames", "width", "height", "num_steps", "guidance_scale"} <= set(
        response.json()
    )


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.generic("POST", JOBS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert not RenderJob.objects.exists()


def test_people_see_only_their_own_jobs(api, tester, tester2):
    mine = RenderJobFactory(owner=tester)
    theirs = RenderJobFactory(owner=tester2)

    listed = api.get(JOBS).json()

    assert [job["id"] for job in listed["results"]] == [str(mine.pk)]
    assert api.get(f"{JOBS}{theirs.pk}/").status_code == 404
    assert api.post(f"{JOBS}{theirs.pk}/cancel/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == "queued"


def test_the_list_filters_by_state(api, tester):
    RenderJobFactory(owner=tester, state="failed")
    done = RenderJobFactory(owner=tester, state="succeeded")
    listed = api.get(JOBS, {"state": "succeeded"}).json()
    assert [job["id"] for job in listed["results"]] == [str(done.pk)]


def test_cancel_through_the_api(api, tester):
    job = RenderJobFactory(owner=tester)
    response = api.post(f"{JOBS}{job.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"


def test_session_clients_need_a_csrf_token(tester, password):
    client = APIClient(enforce_csrf_checks=True)
    client.login(email=tester.email, password=password)

    response = client.post(JOBS, GOOD, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not RenderJob.objects.exists()


def test_the_schema_describes_the_jobs_endpoint(api):
    response = api.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    assert "/api/v1/jobs/" in response.json()["paths"]


def test_a_repeated_idempotency_key_returns_the_same_job(api):
    first = api.post(JOBS, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="retry-123")
    again = api.post(JOBS, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="retry-123")
    other = api.post(JOBS, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="retry-456")

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert RenderJob.objects.count() == 2


def test_reusing_a_key_for_different_settings_is_a_conflict(api):
    api.post(JOBS, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    response = api.post(JOBS, {**GOOD, "num_steps": 8}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 409 and "num_steps" in response.json()["detail"]
    assert RenderJob.objects.count() == 1


def test_keys_belong_to_one_person(api, tester2):
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_authenticate(tester2)
    mine = api.post(JOBS, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="shared").json()["id"]
    theirs = other.post(JOBS, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine


def test_an_overlong_key_is_refused(api):
    response = api.post(JOBS, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k" * 81)
    assert response.status_code == 400 and "idempotency_key" in response.json()
    assert not RenderJob.objects.exists()
