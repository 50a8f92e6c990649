"""The staff queue page (/staff/queue/): who may see it, the order it shows, hold and release,
staff actions (all audited), and each worker's state."""

import re
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEvent, Role
from generation import estimates, job_actions, queue, quota, workers
from generation.models import RenderJob, Worker
from tests.conftest import member, with_totp
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("generation_staff:queue")


def _act(client, job, action):
    return client.post(reverse("generation_staff:queue_job_action", args=[job.pk]), {"action": action})


@pytest.fixture
def waiting(tester, tester2):
    """tester has used GPU time recently and queued first; tester2 has not, so goes first."""
    RenderJobFactory(owner=tester, state="succeeded", charged_seconds=300)
    heavy = RenderJobFactory(owner=tester, prompt="heavy user's job", charged_seconds=5)
    light = RenderJobFactory(owner=tester2, prompt="light user's job", charged_seconds=5)
    RenderJob.objects.filter(pk=light.pk).update(queued_at=heavy.queued_at + timedelta(seconds=1))
    return heavy, light


# --- Who may see it --------------------------------------------------------------------------------


def test_the_queue_is_for_the_operators_staff_only(client, tester, outsider, reviewer, programme, waiting):
    programme_admin = with_totp(member("padmin@example.org", programme=programme, role=Role.ADMIN))
    heavy, _ = waiting
    assert client.get(QUEUE)["Location"].startswith("/accounts/login/")
    for person in (tester, outsider, with_totp(reviewer), programme_admin):
        client.force_login(person)
        assert client.get(QUEUE).status_code == 404, person
        for action in ("raise", "hold", "cancel"):
            assert _act(client, heavy, action).status_code == 404
    heavy.refresh_from_db()
    assert (heavy.state, heavy.priority, heavy.held) == ("queued", 0, False)
    assert not AuditEvent.objects.filter(action__startswith="generation.").exists()


def test_staff_without_two_factor_are_sent_to_set_it_up(client, programme):
    staff = member("ops@example.org", programme=programme, role=Role.ADMIN, is_staff=True)
    client.force_login(staff)

    response = client.get(QUEUE)

    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


def test_the_old_address_leads_to_the_queue_until_a_programme_is_called_queue(admin_client, admin_user):
    from access.programmes import membership_add, programme_create

    assert QUEUE == "/staff/queue/"
    response = admin_client.get("/manage/queue/?model=ltx-video")
    assert response.status_code == 302 and response["Location"] == "/staff/queue/?model=ltx-video"

    programme = programme_create(name="Queue", actor=admin_user)
    membership_add(user=admin_user, programme=programme, role=Role.ADMIN, actor=admin_user)
    page = admin_client.get("/manage/queue/")
    assert page.status_code == 200 and page.context["programme"] == programme, "no slug is reserved any more"
    assert admin_client.get(QUEUE).status_code == 200


# --- What it shows ---------------------------------------------------------------------------------


def test_the_page_shows_waiting_jobs_in_the_order_workers_take_them(admin_client, waiting, tester):
    heavy, light = waiting
    running = RenderJobFactory(
        owner=tester,
        model_key="cogvideox-2b",
        state="running",
        worker="gpu1@box",
        progress_step=4,
        progress_total=10,
        started_at=timezone.now() - timedelta(seconds=40),
    )

    response = admin_client.get(QUEUE)

    html = response.content.decode()
    assert response.status_code == 200
    order = list(queue.fair_queue("ltx-video").values_list("pk", flat=True))
    assert order == [light.pk, heavy.pk]
    assert html.index(f'id="job-{light.pk}"') < html.index(f'id="job-{heavy.pk}"')
    section = html[html.index('id="queue-cogvideox-2b"') :]
    assert f'id="job-{running.pk}"' in section and "gpu1@box" in section and "step 4 of 10" in section
    assert "CogVideoX 2B" in html and "LTX-Video" in html


def test_a_waiting_row_shows_its_place_person_prompt_and_actions_escaped(admin_client, waiting, tester, settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    heavy, light = waiting
    prompt = "<script>alert(1)</script> & a lighthouse at dawn, seen from above, in the style of a 1970s film"
    RenderJob.objects.filter(pk=heavy.pk).update(prompt=prompt, priority=0)

    html = admin_client.get(QUEUE).content.decode()

    row = re.search(rf'<tr id="job-{heavy.pk}">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    queued = timezone.localtime(heavy.queued_at, timezone.get_current_timezone()).strftime("%H:%M:%S")
    assert cells[:7] == [
        "2",
        heavy.short_id,
        tester.email,
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; a lighthouse at dawn, seen from…",  # truncatechars:60
        "0",
        "300",
        queued,
    ]
    assert "<script>" not in html
    form = cells[7]
    assert f'action="{reverse("generation_staff:queue_job_action", args=[heavy.pk])}"' in form
    assert re.search(r'name="csrfmiddlewaretoken" value="[A-Za-z0-9]{32,}"', form)
    for action, label in (("raise", "Raise"), ("lower", "Lower"), ("hold", "Hold"), ("cancel", "Cancel")):
        assert f'value="{action}"' in form and f'title="{label} job {heavy.short_id}"' in form
    light_row = re.search(rf'<tr id="job-{light.pk}">(.*?)</tr>', html, re.S).group(1)
    assert f"/jobs/{light.pk}/" in light_row and f"job {light.short_id}" in light_row
    assert heavy.short_id not in light_row


def test_the_pages_order_is_fair_queues_own_for_every_model(tester, tester2, cohort):
    """On PostgreSQL the page orders the waiting jobs in SQL of its own (each person's usage summed once): it must
    keep fair_queue's order, places, recent GPU time and counts, whatever the priorities, usage and ties."""
    third = member("third@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    RenderJobFactory(owner=tester, state="succeeded", charged_seconds=300)
    RenderJobFactory(owner=third, state="succeeded", charged_seconds=30)
    start = timezone.now() - timedelta(minutes=30)
    people = [tester, tester2, third]
    for index in range(14):
        job = RenderJobFactory(owner=people[index % 3], model_key=("ltx-video", "cogvideox-2b")[index % 2])
        held, priority = index == 5, 1 if index == 7 else 0
        # Two jobs of one person and model queued in the same instant: their ids decide.
        queued = start + timedelta(seconds=index if index != 8 else 2)
        RenderJob.objects.filter(pk=job.pk).update(queued_at=queued, held=held, priority=priority)

    shown = [
        (job.model_key, job.pk, job.place, job.recent_seconds, job.waiting_count)
        for job in queue._board_heads(first=queue.WAITING_SHOWN)
    ]

    expected = []
    for model_key in ("cogvideox-2b", "ltx-video"):
        order = list(queue.fair_queue(model_key).values_list("pk", "recent_seconds"))
        expected += [(model_key, pk, place, recent, len(order)) for place, (pk, recent) in enumerate(order, 1)]
    assert shown == expected
    assert {recent for *_, recent, _ in shown} == {300.0, 0.0, 30.0}
    first = [(job.model_key, job.pk, job.place) for job in queue._board_heads(first=2)]
    assert first == [(key, pk, place) for key, pk, place, *_ in expected if place <= 2]


def test_the_page_costs_a_few_queries_per_model_not_per_job(admin_client, tester, django_assert_max_num_queries):
    for _ in range(3):
        RenderJobFactory(owner=tester)
    admin_client.get(QUEUE)
    queue.queue_board_forget()  # each counted request works the board out (it is kept BOARD_CACHED_SECONDS)
    with django_assert_max_num_queries(30) as few:
        admin_client.get(QUEUE)
    for _ in range(20):
        RenderJobFactory(owner=tester)
        RenderJobFactory(owner=tester, state="running", worker="w", started_at=timezone.now())
    queue.queue_board_forget()
    with django_assert_max_num_queries(len(few)):
        assert admin_client.get(QUEUE).status_code == 200


def test_running_jobs_expected_finishes_read_the_recent_renders_once(tester, monkeypatch):
    from django.core.cache import cache

    cache.delete("generation.recent-averages")
    now = timezone.now()
    for model_key, tail in (("ltx-video", 20), ("cogvideox-2b", 50)):
        RenderJobFactory(
            owner=tester,
            model_key=model_key,
            state="succeeded",
            started_at=now - timedelta(seconds=120),
            denoised_at=now - timedelta(seconds=60 + tail),
            finished_at=now - timedelta(seconds=60),
        )
    started = now - timedelta(seconds=30)
    running = [
        RenderJobFactory(owner=tester, model_key=model_key, state="running", started_at=started, **steps)
        for model_key, steps in (
            ("ltx-video", {"progress_step": 3, "progress_total": 12}),
            ("cogvideox-2b", {"progress_step": 6, "progress_total": 12}),
            ("cogvideox-2b", {"progress_step": 12, "progress_total": 12, "denoised_at": now}),
            ("ltx-video", {"progress_step": 0, "progress_total": 12}),
        )
    ]
    each = {job.pk: estimates.estimated_finish(job) for job in running}
    reads = []
    monkeypatch.setattr(cache, "get", lambda *args, get=cache.get: reads.append(args) or get(*args))

    together = estimates.estimated_finishes(running)

    assert len(reads) == 1
    assert set(together) == {job.pk for job in running[:3]} and each[running[3].pk] is None
    for job in running[:3]:
        assert abs((together[job.pk] - each[job.pk]).total_seconds()) < 1
    assert together[running[2].pk] - now == timedelta(seconds=50)


# --- Hold and release ------------------------------------------------------------------------------


def test_a_held_job_is_skipped_by_the_scheduler_but_keeps_its_reservation(waiting, admin_user):
    heavy, light = waiting
    usage_before = quota.grant_usage(light.grant)

    assert job_actions.job_hold(job=light, actor=admin_user) is True

    assert list(queue.fair_queue("ltx-video").values_list("pk", flat=True)) == [heavy.pk]
    assert estimates.queue_position(light) is None and estimates.queue_position(heavy) == 1
    assert quota.grant_usage(light.grant) == usage_before, "the reservation and the queued count stay"
    assert queue.job_claim(job_id=light.pk, worker="w") is None, "not even a direct claim starts it"
    assert queue.job_claim_next(hint_id=light.pk, worker="w", task_id="m1").pk == heavy.pk
    assert queue.job_claim_next(hint_id=light.pk, worker="w", task_id="m2") is None
    light.refresh_from_db()
    assert (light.state, light.held, light.charged_seconds) == ("queued", True, 5)
    assert AuditEvent.objects.filter(action="generation.job_held", actor=admin_user, subject=light.owner).exists()


def test_releasing_puts_the_job_back_and_queues_a_message_for_it(
    waiting, admin_user, django_capture_on_commit_callbacks, monkeypatch
):
    heavy, light = waiting
    job_actions.job_hold(job=light, actor=admin_user)
    sent = []
    monkeypatch.setattr(
        "generation.broker.job_announce", lambda job_id, queue: sent.append(([str(job_id)], queue))
    )  # the broker itself is exercised by the e2e tests

    with django_capture_on_commit_callbacks(execute=True):
        assert job_actions.job_release(job=light, actor=admin_user) is True

    assert list(queue.fair_queue("ltx-video").values_list("pk", flat=True)) == [light.pk, heavy.pk]
    assert sent == [([str(light.pk)], "render.ltx-video")]
    assert AuditEvent.objects.filter(action="generation.job_released", actor=admin_user).exists()
    assert job_actions.job_release(job=light, actor=admin_user) is False, "releasing twice changes nothing"
    assert AuditEvent.objects.filter(action="generation.job_released").count() == 1


def test_only_waiting_jobs_can_be_held(tester, admin_user, admin_client):
    running = RenderJobFactory(owner=tester, state="running")

    response = _act(admin_client, running, "hold")

    running.refresh_from_db()
    assert response.status_code == 302 and not running.held
    assert not AuditEvent.objects.filter(action="generation.job_held").exists()
    assert "nothing was changed" in admin_client.get(QUEUE).content.decode()


@pytest.fixture
def board_kept_a_minute(monkeypatch):
    """The board kept 60 s rather than BOARD_CACHED_SECONDS: a slow run cannot outlast it between two requests."""
    monkeypatch.setattr(queue, "BOARD_CACHED_SECONDS", 60)


def _waiting_ids(html: str, model_key: str = "ltx-video") -> list[str]:
    section = html[html.index(f'id="queue-{model_key}"') :]
    waiting = section[section.index("<h3>Waiting</h3>") :]
    waiting = waiting[: waiting.index("</table>")] if "</table>" in waiting else ""
    return re.findall(r'<tr id="job-([0-9a-f-]+)"', waiting)


def test_the_board_is_kept_a_moment_then_worked_out_again(
    admin_client, waiting, tester, board_kept_a_minute, monkeypatch
):
    heavy, light = waiting
    admin_client.get(QUEUE)  # the first request of a session notes its network
    queue.queue_board_forget()
    with CaptureQueriesContext(connection) as worked_out:
        admin_client.get(QUEUE)
    late = RenderJobFactory(owner=tester, prompt="queued after the board was worked out")

    with CaptureQueriesContext(connection) as kept:
        html = admin_client.get(QUEUE).content.decode()

    # Five fewer: the held and running jobs, the fair order's first jobs, their owners, the day's summary and
    # its latest failures.
    assert len(kept) == len(worked_out) - 5
    assert _waiting_ids(html) == [str(light.pk), str(heavy.pk)], "the kept board, without the job queued since"
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert _waiting_ids(admin_client.get(QUEUE).content.decode()) == [str(light.pk), str(heavy.pk), str(late.pk)]


# The board is forgotten once an action commits: the test's own transaction never does, so its callbacks run here.
@pytest.mark.parametrize("action", ["raise", "hold", "cancel"])
def test_a_staff_action_shows_on_the_page_at_once(
    admin_client, waiting, board_kept_a_minute, action, django_capture_on_commit_callbacks
):
    heavy, light = waiting
    assert _waiting_ids(admin_client.get(QUEUE).content.decode()) == [str(light.pk), str(heavy.pk)]  # now kept

    with django_capture_on_commit_callbacks(execute=True):
        assert _act(admin_client, heavy, action).status_code == 302

    html = admin_client.get(QUEUE).content.decode()
    expected = {"raise": [str(heavy.pk), str(light.pk)], "hold": [str(light.pk)], "cancel": [str(light.pk)]}
    assert _waiting_ids(html) == expected[action]
    held = html[html.index("<h3>Held</h3>") :] if "<h3>Held</h3>" in html else ""
    assert (f'id="job-{heavy.pk}"' in held) == (action == "hold")


def test_a_release_shows_on_the_page_at_once(
    admin_client, waiting, board_kept_a_minute, django_capture_on_commit_callbacks, monkeypatch
):
    heavy, light = waiting
    monkeypatch.setattr("generation.broker.job_announce", lambda job_id, queue: None)  # the release's own message
    with django_capture_on_commit_callbacks(execute=True):
        _act(admin_client, heavy, "hold")
    assert _waiting_ids(admin_client.get(QUEUE).content.decode()) == [str(light.pk)]  # now kept

    with django_capture_on_commit_callbacks(execute=True):
        _act(admin_client, heavy, "release")

    assert _waiting_ids(admin_client.get(QUEUE).content.decode()) == [str(light.pk), str(heavy.pk)]


# --- Staff actions through the page ---------------------------------------------------------------


def test_staff_raise_lower_hold_release_and_cancel_from_the_page(admin_client, waiting, admin_user):
    heavy, light = waiting

    assert _act(admin_client, heavy, "raise").status_code == 302
    assert list(queue.fair_queue("ltx-video").values_list("pk", flat=True)) == [heavy.pk, light.pk]
    _act(admin_client, heavy, "lower")
    _act(admin_client, heavy, "lower")
    heavy.refresh_from_db()
    assert heavy.priority == -1
    _act(admin_client, light, "hold")
    held_html = admin_client.get(QUEUE).content.decode()
    assert "Held" in held_html and held_html.index(f'id="job-{light.pk}"') > held_html.index("<h3>Held</h3>")
    _act(admin_client, light, "release")
    assert _act(admin_client, light, "cancel").status_code == 302

    light.refresh_from_db()
    assert (light.state, light.charged_seconds, light.held) == ("cancelled", 0, False)
    assert light.error == "Cancelled by the programme's staff."
    events = AuditEvent.objects.filter(actor=admin_user, programme=light.grant.programme)  # in the programme's trail
    actions = list(events.order_by("at", "pk").values_list("action", flat=True))
    assert actions == [
        "generation.priority_changed",
        "generation.priority_changed",
        "generation.priority_changed",
        "generation.job_held",
        "generation.job_released",
        "generation.job_cancelled",
    ]


@pytest.mark.parametrize("body", [{"action": "explode"}, {}])
def test_a_bad_action_is_a_400_and_changes_nothing(admin_client, waiting, body):
    heavy, _ = waiting

    response = admin_client.post(reverse("generation_staff:queue_job_action", args=[heavy.pk]), body)

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode() or "required" in response.content.decode()
    heavy.refresh_from_db()
    assert (heavy.state, heavy.priority, heavy.held) == ("queued", 0, False)
    assert not AuditEvent.objects.filter(action__startswith="generation.").exists()


def test_priority_stays_within_its_range(admin_client, waiting):
    heavy, _ = waiting
    RenderJob.objects.filter(pk=heavy.pk).update(priority=10)

    response = _act(admin_client, heavy, "raise")

    assert response.status_code == 400 and "Priority runs from -10 to 10." in response.content.decode()
    heavy.refresh_from_db()
    assert heavy.priority == 10


def test_an_unknown_job_is_a_404(admin_client):
    import uuid

    assert (
        admin_client.post(
            reverse("generation_staff:queue_job_action", args=[uuid.uuid4()]), {"action": "hold"}
        ).status_code
        == 404
    )


# --- Workers ----------------------------------------------------------------------------------------


def test_a_worker_row_follows_its_jobs(tester, smoke_model):
    worker = workers.worker_started(hostname="gpu0@box", queues=["render.ltx-video"], device="cpu", pid=4321)
    job = RenderJobFactory(owner=tester, grant=tester.grants.get())

    workers.worker_busy(hostname="gpu0@box")
    claimed = queue.job_claim_next(hint_id=job.pk, worker="gpu0@box", task_id="t1")
    worker.refresh_from_db()
    assert (worker.state, worker.current_job_id, worker.model_keys) == ("busy", claimed.pk, ["ltx-video"])

    workers.worker_idle(hostname="gpu0@box", device="cpu")
    workers.worker_busy(hostname="gpu0@box")
    workers.worker_idle(hostname="gpu0@box")  # a task that found nothing to run is no job done

    worker.refresh_from_db()
    assert (worker.state, worker.current_job_id, worker.jobs_done, worker.pid) == ("idle", None, 1, 4321)


def test_a_silent_worker_shows_as_offline_unless_its_job_is_still_stepping(admin_client, tester, settings):
    settings.BACKLOT_WORKER_HEARTBEAT_SECONDS = 10
    long_ago = timezone.now() - timedelta(seconds=60)
    quiet = workers.worker_started(hostname="quiet@box", queues=["render.ltx-video"], device="cpu")
    stepping = workers.worker_started(hostname="stepping@box", queues=["render.mochi-1"], device="cuda:0")
    job = RenderJobFactory(owner=tester, state="running", heartbeat_at=timezone.now())
    Worker.objects.filter(pk=quiet.pk).update(last_seen=long_ago)
    Worker.objects.filter(pk=stepping.pk).update(last_seen=long_ago, state="busy", current_job=job)
    fresh = workers.worker_started(hostname="fresh@box", queues=["render.ltx-video"], device="cpu")
    workers.worker_stopped(hostname="fresh@box")

    html = admin_client.get(QUEUE).content.decode()

    states = {worker.hostname: workers.worker_status(worker) for worker in Worker.objects.select_related("current_job")}
    assert states == {"quiet@box": "offline", "stepping@box": "busy", "fresh@box": "stopped"}
    for worker, state in [(quiet, "offline"), (stepping, "busy"), (fresh, "stopped")]:
        row = html[html.index(f'id="worker-{worker.pk}"') :]
        assert f'data-state="{state}"' in row[: row.index("</tr>")]
    assert job.short_id in html


def test_a_worker_whose_row_was_removed_registers_again_at_its_next_heartbeat():
    workers.worker_seen(hostname="gpu3@box", queues=["render.wan2.1-1.3b"], device="cuda:3", pid=7)
    worker = Worker.objects.get(hostname="gpu3@box")
    assert (worker.state, worker.device, worker.pid, worker.model_keys) == ("idle", "cuda:3", 7, ["wan2.1-1.3b"])


def test_each_model_shows_its_workers_against_its_demand(admin_client, tester, settings):
    """Per model: waiting and running jobs beside the workers taking its jobs (and how many are busy), and
    those that serve it but cannot (unhealthy, offline); a model with jobs waiting and no worker says so."""
    settings.BACKLOT_WORKER_HEARTBEAT_SECONDS = 10
    for _ in range(3):
        RenderJobFactory(owner=tester)
    RenderJobFactory(owner=tester, model_key="cogvideox-2b")
    running = RenderJobFactory(owner=tester, state="running", worker="busy@box", started_at=timezone.now())
    for name in ("idle@box", "busy@box", "broken@box", "silent@box", "gone@box"):
        workers.worker_started(hostname=name, queues=["render.ltx-video"], device="cuda:0")
    workers.worker_started(hostname="spare@box", queues=["render.mochi-1"], device="cuda:1")
    Worker.objects.filter(hostname="busy@box").update(state="busy", current_job=running)
    Worker.objects.filter(hostname="broken@box").update(unhealthy_since=timezone.now(), health_reason="no weights")
    Worker.objects.filter(hostname="silent@box").update(last_seen=timezone.now() - timedelta(minutes=5))
    workers.worker_stopped(hostname="gone@box")

    html = admin_client.get(QUEUE).content.decode()

    def row(key):
        start = html.index(f'id="demand-{key}"')
        return re.findall(r"<td>(.*?)</td>", html[start : html.index("</tr>", start)], re.S)

    assert row("ltx-video") == ["LTX-Video", "3", "1", "2", "1", "2", "1.5"]
    assert row("cogvideox-2b")[1:] == ["1", "0", '<strong class="no-worker">none</strong>', "0", "0"] + [
        "<strong>no worker to take them</strong>"
    ]
    assert row("mochi-1")[1:] == ["0", "0", "1", "0", "0", "0.0"], "a model with workers and no demand is listed"
