"""The sweeper (beat's generation.requeue_stale): jobs whose worker vanished, jobs that used up their
attempts, waiting jobs whose broker message was lost; and the worker's writes outlasting a database
restart. The whole of it runs against real workers, brokers and databases in tests/e2e/test_faults.py."""

import uuid
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from config.celery import app
from generation import broker, queue, quota, sweeper
from generation.models import RenderJob
from generation.outages import outlasting_database_restarts
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced(monkeypatch):
    """The messages the sweeper sends, in order (the broker itself is exercised by the e2e tests)."""
    sent = []
    monkeypatch.setattr(broker, "job_announce", lambda job_id, queue: sent.append((str(job_id), queue)))
    return sent


def _silent_running(owner, *, attempts: int, minutes: int = 30) -> RenderJob:
    job = RenderJobFactory(owner=owner, charged_seconds=12)
    RenderJob.objects.filter(pk=job.pk).update(
        state="running", attempts=attempts, heartbeat_at=timezone.now() - timedelta(minutes=minutes)
    )
    return job


def test_a_silent_job_that_has_had_every_attempt_fails_with_a_reason_and_is_refunded(tester, settings, announced):
    settings.BACKLOT_STALE_SECONDS = 600
    spent = _silent_running(tester, attempts=queue.MAX_ATTEMPTS)
    retried = _silent_running(tester, attempts=1)

    assert sweeper.jobs_requeue_stale() == 2

    spent.refresh_from_db()
    retried.refresh_from_db()
    assert (spent.state, spent.charged_seconds, spent.finished_at is not None) == ("failed", 0, True)
    assert spent.error == "The render stopped its worker 3 times and will not be tried again."
    assert (retried.state, retried.charged_seconds) == ("queued", 12)
    assert announced == [(str(retried.pk), "render.ltx-video")], "only the job that may run again is announced"
    assert quota.grant_usage(spent.grant)["seconds_total"] == 12
    assert sweeper.jobs_requeue_stale() == 0, "a second sweep finds nothing"


def test_a_waiting_job_that_has_used_its_attempts_fails_when_a_message_reaches_it(tester):
    job = RenderJobFactory(owner=tester, attempts=queue.MAX_ATTEMPTS, charged_seconds=5)

    assert queue.job_claim_next(hint_id=job.pk, worker="w", task_id="m") is None

    job.refresh_from_db()
    assert (job.state, job.charged_seconds) == ("failed", 0) and "3 times" in job.error


def _waiting(owner, *, minutes_ago: float, **fields) -> RenderJob:
    job = RenderJobFactory(owner=owner, **fields)
    RenderJob.objects.filter(pk=job.pk).update(queued_at=timezone.now() - timedelta(minutes=minutes_ago))
    return job


@pytest.fixture
def broker_holds(monkeypatch):
    """How many messages the broker says wait in each queue (the real count is tested below)."""
    counts = {}
    monkeypatch.setattr(broker, "messages_waiting", lambda queue: counts.get(queue, 0))
    return counts


def test_waiting_jobs_whose_messages_were_lost_are_announced_again_oldest_first(
    tester, tester2, settings, announced, broker_holds
):
    settings.BACKLOT_REANNOUNCE_SECONDS = 300
    oldest = _waiting(tester, minutes_ago=30)
    older = _waiting(tester2, minutes_ago=20)
    old = _waiting(tester, minutes_ago=10)
    _waiting(tester, minutes_ago=1)  # fresh: its message may still be on its way
    _waiting(tester2, minutes_ago=40, held=True)  # held jobs wait for staff, not for a message
    _waiting(tester2, minutes_ago=40, model_key="mochi-1")
    broker_holds["render.ltx-video"] = 2  # of the four waiting ltx-video jobs, two still have a message
    broker_holds["render.mochi-1"] = 1

    assert sweeper.jobs_reannounce_waiting() == 2

    assert announced == [(str(oldest.pk), "render.ltx-video"), (str(older.pk), "render.ltx-video")]
    assert old.pk not in [job_id for job_id, _ in announced]


def test_nothing_is_announced_while_the_broker_holds_a_message_for_every_waiting_job(
    tester, settings, announced, broker_holds
):
    settings.BACKLOT_REANNOUNCE_SECONDS = 60
    for minutes in (5, 6, 7):
        _waiting(tester, minutes_ago=minutes)
    broker_holds["render.ltx-video"] = 3

    assert sweeper.jobs_reannounce_waiting() == 0
    assert announced == []


def test_nothing_is_announced_while_the_broker_cannot_be_asked(tester, settings, announced, monkeypatch):
    settings.BACKLOT_REANNOUNCE_SECONDS = 60
    _waiting(tester, minutes_ago=5)
    monkeypatch.setattr(broker, "messages_waiting", lambda queue: None)

    assert sweeper.jobs_reannounce_waiting() == 0
    assert announced == []


def test_the_broker_counts_the_messages_waiting_in_a_queue():
    name = f"backlot-test-{uuid.uuid4().hex[:12]}"
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue(name)
        try:
            assert broker.messages_waiting(name) == 0
            queue.put({"n": 1})
            queue.put({"n": 2})
            assert broker.messages_waiting(name) == 2
            queue.get(timeout=5).ack()
            assert broker.messages_waiting(name) == 1
        finally:
            queue.clear()
            queue.close()


def test_a_broker_that_cannot_be_reached_is_reported_as_unknown(settings):
    app.conf.broker_write_url, saved = "redis://127.0.0.1:1/0", app.conf.get("broker_write_url")
    try:
        assert broker.messages_waiting("render.ltx-video") is None
    finally:
        app.conf.broker_write_url = saved


@pytest.mark.django_db(transaction=True)  # worker writes run outside transactions; inside one, a retry cannot help
def test_a_worker_write_waits_out_a_database_restart(settings):
    settings.BACKLOT_DATABASE_RETRY_SECONDS = 10
    failures = iter([OperationalError("server closed the connection"), OperationalError("connection refused")])

    @outlasting_database_restarts
    def write():
        error = next(failures, None)
        if error:
            raise error
        return RenderJob.objects.count()

    assert write() == 0


@pytest.mark.django_db(transaction=True)
def test_a_database_away_longer_than_the_retry_window_fails_the_write(settings):
    settings.BACKLOT_DATABASE_RETRY_SECONDS = 0

    @outlasting_database_restarts
    def write():
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        write()


def test_the_sweep_runs_every_half_minute_on_its_own_queue(settings):
    route = app.amqp.router.route({}, "generation.requeue_stale")

    assert route["queue"].name == "sweeps", "never behind renders, whichever models a fleet serves"
    sweep = settings.CELERY_BEAT_SCHEDULE["requeue-stale-renders"]
    assert sweep == {"task": "generation.requeue_stale", "schedule": 30.0}
    assert "sweeps" in {queue.name for queue in app.conf.task_queues}


# --- A worker gone: its heartbeat decides, within a minute or so, not the 15-minute job timeout ---------


def _running_on(owner, worker: str, *, seconds_since_step: int) -> RenderJob:
    job = RenderJobFactory(owner=owner, charged_seconds=12)
    RenderJob.objects.filter(pk=job.pk).update(
        state="running", attempts=1, worker=worker, heartbeat_at=timezone.now() - timedelta(seconds=seconds_since_step)
    )
    return job


def _worker(hostname: str, *, seconds_since_seen: int, state: str = "busy"):
    from generation.models import Worker

    return Worker.objects.create(
        hostname=hostname,
        state=state,
        started_at=timezone.now() - timedelta(hours=1),
        last_seen=timezone.now() - timedelta(seconds=seconds_since_seen),
    )


def test_a_job_whose_worker_went_silent_is_requeued_within_three_heartbeats(tester, settings, announced):
    settings.BACKLOT_STALE_SECONDS, settings.BACKLOT_WORKER_HEARTBEAT_SECONDS = 900, 15
    _worker("gone@gpu1", seconds_since_seen=50)  # three beats missed
    _worker("stopped@gpu2", seconds_since_seen=1, state="stopped")
    _worker("alive@gpu3", seconds_since_seen=5)
    lost = _running_on(tester, "gone@gpu1", seconds_since_step=50)
    orphan = _running_on(tester, "stopped@gpu2", seconds_since_step=50)
    unknown = _running_on(tester, "never-registered@gpu4", seconds_since_step=50)
    long_step = _running_on(tester, "alive@gpu3", seconds_since_step=300)  # a slow step on a live worker
    just_claimed = _running_on(tester, "gone@gpu1", seconds_since_step=5)  # its step says it is alive

    assert sweeper.jobs_requeue_stale() == 3

    states = dict(RenderJob.objects.values_list("pk", "state"))
    assert [states[job.pk] for job in (lost, orphan, unknown)] == ["queued"] * 3
    assert states[long_step.pk] == "running", "a live worker's long render is never taken from it"
    assert states[just_claimed.pk] == "running"
    assert sorted(job_id for job_id, _ in announced) == sorted(str(job.pk) for job in (lost, orphan, unknown))


def test_a_worker_that_starts_requeues_what_was_left_running_under_its_name(tester, announced):
    mine = _running_on(tester, "w1@box", seconds_since_step=2)
    theirs = _running_on(tester, "w2@box", seconds_since_step=2)

    assert sweeper.jobs_requeue_of_worker("w1@box") == 1

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.state, mine.worker, mine.charged_seconds) == ("queued", "", 12), "its reservation stays"
    assert theirs.state == "running"
    assert announced == [(str(mine.pk), "render.ltx-video")]
