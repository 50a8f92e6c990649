"""What makes the progress polls cheap must not change what they say or whom they refuse: the poll's fragment
written in Python says what the template says, a ticket verified once per process still expires, and a kept
database connection that went bad is replaced without the caller seeing an error."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, connections
from django.template.loader import render_to_string
from django.utils import timezone

from core.hot_reads import instance_from, one_row
from generation import estimates, progress
from generation.models import RenderJob
from tests.factories import RenderJobFactory
from tests.generation.test_progress_path import _cookies, _poll_url, _running, wsgi  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

URL = "/clips/00000000-0000-0000-0000-000000000000/progress/?t=a:b&c=<d>"


def _template(job: RenderJob) -> str:
    finish = estimates.estimated_finish(job)
    position = estimates.queue_position_cached(job)
    context = {
        "job": job,
        "lean": True,
        "progress_url": URL,
        "elapsed_seconds": (timezone.now() - job.started_at).total_seconds() if job.started_at else None,
        "estimated_finish": finish,
        "progress_percent": estimates.progress_percent(job, finish),
        "queue_position": position,
        "estimated_start": estimates.estimated_start(job, position),
        "poll_seconds": settings.BACKLOT_PROGRESS_POLL_SECONDS,
    }
    return render_to_string("generation/_job_status.html", context)


def _words(html: str) -> str:
    return " ".join(html.split())


def _finished_render(owner, seconds: int) -> None:
    # A past render, so that the expected start and finish are worked out from recent averages.
    now = timezone.now()
    RenderJobFactory(
        owner=owner,
        state="succeeded",
        started_at=now - timedelta(seconds=seconds + 60),
        denoised_at=now - timedelta(seconds=65),
        finished_at=now - timedelta(seconds=60),
    )


@pytest.mark.parametrize(
    "shape",
    ["running", "running, no step yet", "decoding", "running 1,234 s", "queued behind another", "held", "queued alone"],
)
def test_the_polls_fragment_says_what_the_template_says(tester, shape):
    _finished_render(tester, 40)
    started = timezone.now() - timedelta(seconds=1234.5 if "1,234" in shape else 30.5)
    if shape.startswith("running"):
        job = _running(tester)
        RenderJob.objects.filter(pk=job.pk).update(started_at=started, progress_step=0 if "no step" in shape else 3)
    elif shape == "decoding":
        job = _running(tester, stage="decoding", denoised_at=timezone.now() - timedelta(seconds=2))
        RenderJob.objects.filter(pk=job.pk).update(progress_step=12)
    else:
        if shape == "queued behind another":
            RenderJobFactory(owner=tester, state="queued")
        job = RenderJobFactory(owner=tester, state="queued", held=shape == "held")
    job.refresh_from_db()

    assert _words(progress.status_fragment(job, URL)) == _words(_template(job))


def test_the_polls_fragment_escapes_what_it_writes(tester):
    job = _running(tester)
    fragment = progress.status_fragment(job, URL)
    assert 'hx-get="/clips/00000000-0000-0000-0000-000000000000/progress/?t=a:b&amp;c=&lt;d&gt;"' in fragment


def test_a_ticket_verified_once_still_expires(tester_client, tester, wsgi, monkeypatch):  # noqa: F811
    job = _running(tester)
    url = _poll_url(tester_client, job)
    assert wsgi(url, _cookies(tester_client))[0] == 200  # verified, and kept by this process

    monkeypatch.setattr(progress, "TICKET_MAX_AGE", -1)
    status, fragment = wsgi(url, _cookies(tester_client))
    assert status == 286 and "not valid" in fragment


def test_a_ticket_with_a_bad_signature_is_never_kept(tester_client, tester, wsgi):  # noqa: F811
    job = _running(tester)
    url = _poll_url(tester_client, job)
    forged = url[:-1] + ("A" if url[-1] != "A" else "B")
    kept = progress._ticket_verified.cache_info().currsize
    for _ in range(2):
        assert wsgi(forged, _cookies(tester_client))[0] == 286
    assert progress._ticket_verified.cache_info().currsize == kept, "checked again on each poll"


def test_instances_read_by_hand_convert_as_the_orm_does(tester):
    job = _running(tester)
    row = one_row(
        f'SELECT "started_at", "id", "progress_step" FROM "{RenderJob._meta.db_table}" WHERE "id" = %s',  # noqa: S608
        [RenderJob._meta.pk.get_db_prep_value(job.pk, connection)],
    )
    read = instance_from(RenderJob, ("started_at", "id", "progress_step"), row)
    assert (read.pk, read.started_at, read.progress_step) == (job.pk, job.started_at, 3)
    assert read.get_deferred_fields() >= {"state", "owner_id"}
    assert read.state == "running", "a field not read loads on first use"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ends a PostgreSQL backend from another connection")
@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_that_went_bad_is_replaced_unseen():
    assert one_row("SELECT 1") == (1,)
    backend = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
    finally:
        other.close()

    assert one_row("SELECT 2") == (2,)
    assert connection.connection.info.backend_pid != backend
