"""Fair share's usage table (UsageHour, read by generation.usage): whatever moves a job's charge or state
(reserve, claim, settle, refund, requeue, cancel, a change of hour, a deleted row), the table equals a recount
from the jobs themselves, and the fair order and the claim read it."""

import math
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from access.models import Grant
from generation import job_actions, queue, render, sweeper, usage
from generation.models import RenderJob, UsageHour
from generation.quota import charge_refund, charge_reserve, charge_settle
from tests.factories import RenderJobFactory, render_settings

pytestmark = pytest.mark.django_db


def _recount() -> dict:
    """What UsageHour must hold, from the jobs: each person's charges of the jobs that are not waiting, per
    hour (UTC) they were queued in, in whole milliseconds."""
    totals = defaultdict(int)
    jobs = RenderJob.objects.exclude(state=RenderJob.State.QUEUED)
    for owner, queued_at, seconds in jobs.values_list("owner", "queued_at", "charged_seconds"):
        hour = queued_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        totals[owner, hour] += math.floor(seconds * 1000 + 0.5)
    return {key: ms for key, ms in totals.items() if ms}


def _table() -> dict:
    rows = UsageHour.objects.values_list("owner", "hour", "milliseconds")
    return {(owner, hour.astimezone(UTC)): ms for owner, hour, ms in rows if ms}


def _reserve(person, estimate: float, seed: int) -> RenderJob:
    grant = Grant.objects.get(user=person)
    return charge_reserve(grant=grant, estimate=estimate, owner=person, prompt="a wave", **render_settings(seed=seed))


def test_the_table_equals_a_recount_from_the_jobs_after_every_move_of_a_charge(tester, tester2, settings):
    settings.BACKLOT_STALE_SECONDS = 600
    first, second, third = _reserve(tester, 40.0, 1), _reserve(tester, 25.5, 2), _reserve(tester2, 60.25, 3)
    steps = {"reserved: waiting jobs count for nobody": {}}

    queue.job_claim(job_id=first.pk, worker="w1")
    steps["claimed: the reservation counts"] = _table()
    running = RenderJob.objects.filter(pk=first.pk, state=RenderJob.State.RUNNING)
    assert charge_settle(running, device_seconds=12.345, state=RenderJob.State.SUCCEEDED, finished_at=timezone.now())
    steps["settled: what the render used"] = _table()
    render.job_fail(job=queue.job_claim(job_id=second.pk, worker="w2"), reason="a bad prompt")
    steps["failed and refunded"] = _table()
    queue.job_claim(job_id=third.pk, worker="w3")
    RenderJob.objects.filter(pk=third.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert sweeper.jobs_requeue_stale() == 1
    steps["requeued: waiting again, counts for nobody"] = _table()
    job_actions.job_cancel(job=queue.job_claim(job_id=third.pk, worker="w4"))
    steps["cancelled mid-render"] = _table()
    assert charge_refund(RenderJob.objects.filter(pk=first.pk), state=RenderJob.State.FAILED) == 1
    steps["refunded after it was settled"] = _table()
    later = _reserve(tester, 30.0, 4)
    queue.job_claim(job_id=later.pk, worker="w5")
    RenderJob.objects.filter(pk=later.pk).update(queued_at=timezone.now() - timedelta(hours=5))
    steps["moved to another hour"] = _table()
    RenderJobFactory(owner=tester2, state="succeeded", charged_seconds=7.5)
    steps["written straight to the table of jobs"] = _table()
    RenderJob.objects.filter(pk=later.pk).delete()
    steps["deleted"] = _table()

    assert steps.pop("reserved: waiting jobs count for nobody") == {}
    hour = first.queued_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    assert steps["claimed: the reservation counts"] == {(tester.pk, hour): 40000}
    assert steps["settled: what the render used"] == {(tester.pk, hour): 12345}
    assert steps["failed and refunded"] == steps["requeued: waiting again, counts for nobody"]
    assert steps["failed and refunded"] == steps["cancelled mid-render"] == {(tester.pk, hour): 12345}
    assert steps["refunded after it was settled"] == {}
    assert list(steps["moved to another hour"].values()) == [30000]
    assert sorted(steps["written straight to the table of jobs"].values()) == [7500, 30000]
    assert list(steps["deleted"].values()) == [7500] and _table() == _recount()
    assert usage.usage_recent_seconds(tester2) == 7.5 and usage.usage_recent_seconds(tester) == 0


def test_each_step_leaves_the_table_equal_to_the_recount(tester, tester2):
    """The same moves, checked one by one against the recount."""
    jobs = [_reserve(person, estimate, seed) for seed, (person, estimate) in enumerate([(tester, 3.1), (tester2, 9.9)])]
    moves = [
        lambda: queue.job_claim(job_id=jobs[0].pk, worker="w1"),
        lambda: queue.job_claim(job_id=jobs[1].pk, worker="w2"),
        lambda: charge_settle(RenderJob.objects.filter(pk=jobs[0].pk), device_seconds=1.234, state="succeeded"),
        lambda: render.job_fail(job=RenderJob.objects.get(pk=jobs[1].pk), reason="out of memory"),
        lambda: charge_refund(RenderJob.objects.filter(pk=jobs[0].pk), state=RenderJob.State.FAILED),
        lambda: RenderJob.objects.filter(pk=jobs[0].pk).update(queued_at=timezone.now() - timedelta(days=2)),
    ]
    for move in moves:
        move()
        assert _table() == _recount()


def test_usage_counts_whole_hours_back_to_the_top_of_the_window_start(tester, settings):
    settings.BACKLOT_FAIR_SHARE_HOURS = 3
    at = datetime(2026, 12, 7, 10, 25, tzinfo=UTC)
    assert usage.usage_window_start(now=at) == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    inside, outside = (RenderJobFactory(owner=tester, state="succeeded", charged_seconds=s) for s in (20.0, 500.0))
    RenderJob.objects.filter(pk=inside.pk).update(queued_at=timezone.now() - timedelta(hours=2, minutes=50))
    RenderJob.objects.filter(pk=outside.pk).update(queued_at=timezone.now() - timedelta(hours=5))
    assert usage.usage_recent_seconds(tester) == 20.0


def test_the_fair_order_and_the_claim_read_the_usage_table(tester, tester2):
    """Nothing else: a person's usage written only in the table moves their jobs back, in the queue and in
    the claim alike."""
    mine, theirs = RenderJobFactory(owner=tester), RenderJobFactory(owner=tester2)
    RenderJob.objects.filter(pk=theirs.pk).update(queued_at=mine.queued_at + timedelta(seconds=1))
    assert list(queue.fair_queue("ltx-video").values_list("pk", flat=True)) == [mine.pk, theirs.pk]

    UsageHour.objects.create(owner=tester, hour=usage.usage_window_start(), milliseconds=90_000)

    assert list(queue.fair_queue("ltx-video").values_list("pk", flat=True)) == [theirs.pk, mine.pk]
    assert queue.fair_heads().get(pk=mine.pk).recent_seconds == 90.0
    assert queue.job_claim_next(hint_id=mine.pk, worker="w").pk == theirs.pk


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_table_from_the_jobs_already_there(tester, tester2):
    RenderJobFactory(owner=tester, state="succeeded", charged_seconds=11.5)
    executor = MigrationExecutor(connection)
    executor.migrate([("generation", "0015_library")])
    old = RenderJobFactory(owner=tester, state="running", charged_seconds=30.0)
    RenderJob.objects.filter(pk=old.pk).update(queued_at=timezone.now() - timedelta(days=3))
    RenderJobFactory(owner=tester2, state="failed", charged_seconds=0)
    RenderJobFactory(owner=tester2, charged_seconds=99.0)  # waiting: not counted

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert len(_table()) == 2 and _table() == _recount()
    RenderJob.objects.filter(pk=old.pk).update(state="succeeded", charged_seconds=28.0)
    assert _table() == _recount(), "the triggers are back"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and deadlocks are PostgreSQL's")
def test_a_sweeper_requeue_racing_a_revocation_takes_rows_in_one_order(tester, tester2, settings):
    """The sweeper failing many spent jobs (and requeueing the others) while a revocation cancels the same
    people's jobs: both move many charges at once, each through the usage rows of both people's hours.
    Neither is aborted as a deadlock, every job ends once, and the table still equals a recount."""
    settings.BACKLOT_STALE_SECONDS = 600
    now = timezone.now()
    for round_ in range(6):
        first = [RenderJobFactory(owner=owner, state="running") for owner in (tester, tester2)]
        jobs = RenderJob.objects.bulk_create(
            RenderJob(
                **{field: getattr(template, field) for field in render_settings()},
                owner_id=template.owner_id,
                grant_id=template.grant_id,
                prompt="a wave",
                state="running",
                attempts=3 - n % 2,  # every other one spent: the sweeper fails those in one UPDATE
                charged_seconds=10.0 + n,
                worker="gone",
                mark_code=10**12 + round_ * 1000 + side * 500 + n,
            )
            for side, template in enumerate(first)
            for n in range(120)
        )
        RenderJob.objects.filter(pk__in=[job.pk for job in first]).update(state="cancelled", charged_seconds=0)
        # The table's order (the newest first) against the owners' index order (the oldest first).
        for n, job in enumerate(reversed(jobs)):
            queued = now - timedelta(hours=n % 6, minutes=n)
            RenderJob.objects.filter(pk=job.pk).update(queued_at=queued, heartbeat_at=now - timedelta(hours=2))
        errors = _at_once(
            sweeper.jobs_requeue_stale,
            lambda: job_actions.jobs_cancel_for_owners(owner_ids=[tester.pk, tester2.pk], reason="revoked"),
        )

        assert errors == [], f"round {round_}"
        states = set(RenderJob.objects.filter(pk__in=[job.pk for job in jobs]).values_list("state", flat=True))
        assert states <= {"failed", "cancelled", "queued"} and "running" not in states
        assert _table() == _recount()
        RenderJob.objects.filter(pk__in=[job.pk for job in jobs]).update(state="cancelled", charged_seconds=0)


def _at_once(sweep, revoke) -> list:
    """Run ``sweep`` and ``revoke`` in two threads, each on its own connection, started together; the errors."""
    barrier, errors = threading.Barrier(2), []

    def run(action, by_owner_index):
        try:
            with connection.cursor() as cursor:  # connected before the start: both begin at once
                if by_owner_index:
                    # As on a big table, the revocation meets the jobs through the owners' index, the oldest
                    # first, while the sweeper reads the table in its own order; here the planner is told so.
                    cursor.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
            barrier.wait()
            action()
        except Exception as error:  # noqa: BLE001 -- any error, a deadlock above all, fails the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(sweep, False)), threading.Thread(target=run, args=(revoke, True))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
