"""Fair share among waiting jobs, staff priority, queue position, and stale jobs going back to the queue."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from access.models import AuditEvent
from generation import estimates, job_actions, queue, render, sweeper
from generation.models import RenderJob
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def heavy_user_waiting_first(tester, tester2):
    """tester has used 500 GPU seconds today and queued first; tester2 has used nothing and queued later."""
    RenderJobFactory(owner=tester, state="succeeded", charged_seconds=500, gpu_seconds=500)
    first = RenderJobFactory(owner=tester, prompt="heavy user's job")
    later = RenderJobFactory(owner=tester2, prompt="light user's job")
    RenderJob.objects.filter(pk=later.pk).update(queued_at=first.queued_at + timedelta(seconds=5))
    return first, later


def test_the_person_with_the_least_recent_gpu_time_goes_next(heavy_user_waiting_first):
    first, later = heavy_user_waiting_first

    assert list(queue.fair_queue("ltx-video").values_list("pk", flat=True)) == [later.pk, first.pk]
    claimed = queue.job_claim_next(hint_id=first.pk, worker="w", task_id="message-for-first")

    assert claimed.pk == later.pk, "the message for the heavy user's job runs the light user's job"
    assert queue.job_claim_next(hint_id=later.pk, worker="w", task_id="message-for-later").pk == first.pk
    assert queue.job_claim_next(hint_id=later.pk, worker="w", task_id="a-third-message") is None


def test_a_message_delivered_again_after_its_worker_died_takes_back_its_job(heavy_user_waiting_first):
    first, later = heavy_user_waiting_first
    claimed = queue.job_claim_next(hint_id=first.pk, worker="w1", task_id="m1")

    again = queue.job_claim_next(hint_id=first.pk, worker="w2", task_id="m1")

    assert again.pk == claimed.pk == later.pk and again.attempts == 2
    first.refresh_from_db()
    assert first.state == "queued"


def test_usage_outside_the_window_does_not_count(tester, tester2, settings):
    settings.BACKLOT_FAIR_SHARE_HOURS = 24
    old = RenderJobFactory(owner=tester, state="succeeded", charged_seconds=500)
    RenderJob.objects.filter(pk=old.pk).update(queued_at=timezone.now() - timedelta(days=2))
    mine, theirs = RenderJobFactory(owner=tester), RenderJobFactory(owner=tester2)
    assert list(queue.fair_queue("ltx-video").values_list("pk", flat=True)) == [mine.pk, theirs.pk]


def test_staff_priority_jumps_the_fair_order(heavy_user_waiting_first, admin_user):
    first, later = heavy_user_waiting_first

    job_actions.job_set_priority(job=first, priority=5, actor=admin_user)

    assert estimates.queue_position(first) == 1 and estimates.queue_position(later) == 2
    assert AuditEvent.objects.filter(action="generation.priority_changed", actor=admin_user).exists()
    with pytest.raises(ValidationError):
        job_actions.job_set_priority(job=first, priority=99, actor=admin_user)


def test_a_waiting_job_knows_its_position_and_expected_start(heavy_user_waiting_first, api):
    first, later = heavy_user_waiting_first
    done = RenderJobFactory(owner=later.owner, state="succeeded")
    RenderJob.objects.filter(pk=done.pk).update(
        started_at=timezone.now() - timedelta(seconds=30), finished_at=timezone.now() - timedelta(seconds=20)
    )

    body = api.get(f"/api/v1/jobs/{first.pk}/").json()

    assert body["queue_position"] == 2
    start = timezone.datetime.fromisoformat(body["estimated_start_at"])
    assert timedelta(seconds=15) < start - timezone.now() <= timedelta(seconds=21)
    assert estimates.queue_position(RenderJobFactory(owner=first.owner, state="running")) is None


def test_the_job_page_shows_the_queue_position(tester_client, heavy_user_waiting_first):
    first, _ = heavy_user_waiting_first
    page = tester_client.get(first.get_absolute_url()).content.decode()
    assert "number 2 in the queue" in page


def test_a_list_shows_each_waiting_job_at_its_place_in_the_fair_queue(heavy_user_waiting_first, tester2, monkeypatch):
    first, _ = heavy_user_waiting_first
    behind = [RenderJobFactory(owner=tester2, prompt=f"behind {n}") for n in range(3)]
    held = RenderJobFactory(owner=tester2, held=True)
    other_model = RenderJobFactory(owner=tester2, model_key="cogvideox-2b")
    listed = [first, behind[2], held, other_model]  # the places count the jobs not listed too

    positions = {pk: position for pk, (position, _) in estimates.queue_estimates(listed).items()}

    # tester2 has used nothing and `later` was queued last: behind 0, 1, 2, later, then the heavy user's first.
    assert positions == {first.pk: 5, behind[2].pk: 3, other_model.pk: 1}
    assert positions == {job.pk: estimates.queue_position(job) for job in listed if not job.held}
    monkeypatch.setattr(estimates, "POSITIONS_COUNTED", 3)  # a job further back: one behind the last counted
    estimates.fair_orders_forget()  # the orders kept for 2 s were counted to 1,000
    positions = {pk: position for pk, (position, _) in estimates.queue_estimates(listed).items()}
    assert positions == {first.pk: 4, behind[2].pk: 3, other_model.pk: 1}


def test_a_running_job_whose_worker_went_silent_goes_back_to_the_queue(tester, settings):
    settings.BACKLOT_STALE_SECONDS = 600
    job = queue.job_claim(job_id=RenderJobFactory(owner=tester).pk, worker="w1")
    fresh = queue.job_claim(job_id=RenderJobFactory(owner=tester).pk, worker="w2")
    RenderJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    assert sweeper.jobs_requeue_stale() == 1

    job.refresh_from_db()
    fresh.refresh_from_db()
    assert (job.state, job.attempts, fresh.state) == ("queued", 1, "running")
    again = queue.job_claim_next(hint_id=job.pk, worker="w3")
    assert again.pk == job.pk and again.attempts == 2


def test_the_old_attempt_of_a_requeued_job_cannot_report_progress(tester):
    from generation.runner import RenderStopped

    job = queue.job_claim(job_id=RenderJobFactory(owner=tester).pk, worker="w1")
    RenderJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    sweeper.jobs_requeue_stale()
    with pytest.raises(RenderStopped):
        render.job_progress(job=job, step=1, total=2)


def test_a_claim_never_takes_a_job_another_worker_has_just_started(heavy_user_waiting_first, monkeypatch):
    """A worker whose view of the fair order was read before another worker's claim committed still sees
    that job first; it must take the next waiting one, not the running render (issue 15's fleet bench found
    two workers rendering one job this way)."""
    first, later = heavy_user_waiting_first
    started = queue.job_claim_next(hint_id=first.pk, worker="w1", task_id="m1")
    assert started.pk == later.pk
    stale_order = lambda key: RenderJob.objects.filter(  # noqa: E731
        model_key=key, state__in=["queued", "running"]
    ).order_by("-state", "queued_at")
    monkeypatch.setattr(queue, "fair_queue", stale_order)

    claimed = queue.job_claim_next(hint_id=first.pk, worker="w2", task_id="m2")

    assert claimed.pk == first.pk and claimed.attempts == 1
    started.refresh_from_db()
    assert (started.state, started.worker, started.attempts) == ("running", "w1", 1)


def test_a_claim_hands_back_the_attempt_it_set(tester):
    """The job a claim returns carries the attempt this claim set, which is the one its progress and
    result writes are checked against."""
    job = RenderJobFactory(owner=tester, state=RenderJob.State.RUNNING, attempts=1)

    taken = queue.job_claim(job_id=job.pk, worker="w2")

    assert (taken.attempts, taken.worker) == (2, "w2")
    assert not RenderJob.objects.filter(pk=job.pk, attempts=1).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and SKIP LOCKED are PostgreSQL's")
def test_many_workers_claiming_at_once_take_each_waiting_job_once(tester, tester2):
    """Sixteen workers claim at the same moment from ten waiting jobs: each job is taken once, at its first
    attempt, and six workers find nothing."""
    jobs = [RenderJobFactory(owner=tester if n % 2 else tester2) for n in range(10)]
    barrier = threading.Barrier(16)
    taken = []

    def claim(n):
        barrier.wait()
        try:
            job = queue.job_claim_next(hint_id=jobs[0].pk, worker=f"w{n}", task_id=f"m{n}")
            taken.append((job.pk, job.attempts, f"w{n}") if job else None)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    claimed = [item for item in taken if item]
    assert sorted(pk for pk, _, _ in claimed) == sorted(job.pk for job in jobs)
    assert {attempts for _, attempts, _ in claimed} == {1} and taken.count(None) == 6
    rows = dict(RenderJob.objects.filter(pk__in=[job.pk for job in jobs]).values_list("pk", "worker"))
    assert all(rows[pk] == worker for pk, _, worker in claimed)


def test_claims_follow_the_fair_order_of_the_queue(tester, tester2, admin_user):
    """The claim sums each waiting person's recent GPU time once (bench/fleet.py found the per-job sum took
    seconds at 2,000 waiting jobs); it must still take jobs in exactly fair_queue's order: staff priority,
    then the least recent GPU time, then first come, with usage outside the window and waiting jobs not
    counted."""
    old = RenderJobFactory(owner=admin_user, state="succeeded", charged_seconds=900)
    RenderJob.objects.filter(pk=old.pk).update(queued_at=timezone.now() - timedelta(days=3))
    RenderJobFactory(owner=tester, state="succeeded", charged_seconds=300)
    RenderJobFactory(owner=tester2, state="running", charged_seconds=100)
    jobs = [
        RenderJobFactory(owner=owner, charged_seconds=50)
        for owner in (tester, tester2, admin_user, tester, tester2, admin_user)
    ]
    RenderJob.objects.filter(pk=jobs[3].pk).update(priority=2)
    expected = list(queue.fair_queue("ltx-video").values_list("pk", flat=True))

    claimed = [queue.job_claim_next(hint_id=jobs[0].pk, worker=f"w{n}").pk for n in range(6)]

    assert claimed == expected
    assert claimed[0] == jobs[3].pk and claimed[1] == jobs[2].pk  # priority, then nothing used in the window
    assert queue.job_claim_next(hint_id=jobs[0].pk, worker="w7") is None
