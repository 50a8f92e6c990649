"""The claim's one statement on PostgreSQL (generation.queue._claim_head) takes exactly fair_queue's next job,
with more people waiting than it takes candidates from, ties in usage, staff priority and usage that moves
with every claim."""

import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from access.models import Grant
from generation import queue
from generation.models import RenderJob
from tests.factories import render_settings

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement claim is PostgreSQL's"),
]


def test_each_claim_takes_the_first_job_of_fair_queue(tester, monkeypatch):
    rng, now = random.Random(7), timezone.now()
    grant = Grant.objects.get(user=tester)
    people = get_user_model().objects.bulk_create(
        get_user_model()(email=f"claim-{n}@example.org") for n in range(queue.HEAD_CANDIDATES + 6)
    )
    rows, code = [], 10**12

    def job(person, state, seconds, queued_at, priority=0):
        nonlocal code
        code += 1
        job = RenderJob(
            **render_settings(seed=0),
            owner=person,
            grant=grant,
            prompt="a wave",
            state=state,
            charged_seconds=seconds,
            priority=priority,
            mark_code=code,
        )
        job.when = queued_at
        return job

    for n, person in enumerate(people):
        # The last few people queued last but have used nothing: they go first, from beyond the candidates
        # that the first waiting jobs alone would give; the others tie in tens of seconds.
        late = n >= queue.HEAD_CANDIDATES
        if not late:
            rows.append(job(person, "succeeded", 10.0 * (1 + n % 5), now - timedelta(hours=2)))
        for _ in range(rng.randint(1, 3)):
            priority = 1 if rng.random() < 0.03 else 0
            seconds = rng.randint(0, 600) if late else rng.randint(1200, 3600)
            rows.append(job(person, "queued", 5.0, now - timedelta(seconds=seconds), priority))
    RenderJob.objects.bulk_create(rows)
    for row in rows:  # the table's own time of queueing is set on creation
        RenderJob.objects.filter(pk=row.pk).update(queued_at=row.when)
    hint = next(row for row in rows if row.state == "queued")

    def whole_queue(*args, **kwargs):
        raise AssertionError("the claim fell back to fair_queue's whole-queue path")

    monkeypatch.setattr(queue, "_fair_first", whole_queue)
    waiting = RenderJob.objects.filter(state="queued").count()
    for n in range(waiting):
        expected = queue.fair_queue(hint.model_key).values_list("pk", flat=True).first()
        claimed = queue.job_claim_next(hint_id=hint.pk, worker=f"w{n}", task_id=f"m{n}")
        assert (claimed.pk, claimed.state, claimed.attempts) == (expected, "running", 1), f"claim {n}"
    monkeypatch.undo()
    assert queue.job_claim_next(hint_id=hint.pk, worker="last", task_id="last") is None
