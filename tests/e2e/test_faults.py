"""Faults, with real worker processes and private servers: a worker killed while it encodes, the
broker restarted with jobs waiting, PostgreSQL restarted mid-render, the media disk full. After each:
no job lost, none left running, none run twice to completion, the grant charged exactly what the
finished jobs used, and a clear reason on each failed job.

Each test starts its own Redis (and, for the database test, its own PostgreSQL cluster) and its own
worker, so it can kill them without touching the servers and the worker the rest of the suite shares.
The broker and database tests are about the PostgreSQL + Redis deployment and run in that pass of CI;
on the embedded defaults (SQLite, the filesystem broker) they are skipped."""

import signal
import time

import psutil
import pytest
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from access.models import Role
from access.programmes import programme_create
from generation.encoding import probe_mp4
from generation.models import RenderJob
from generation.quota import grant_usage
from generation.submission import job_create
from generation.sweeper import jobs_reannounce_waiting, jobs_requeue_stale
from tests.conftest import member, standing_cohort
from tests.e2e.conftest import wait_for
from tests.e2e.servers import PrivatePostgres, PrivateRedis, broker_in_use, database_in_use
from tests.full_disk import disk_fill, disk_free

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Restarts PostgreSQL under a worker: runs in the PostgreSQL + Redis pass (DATABASE_URL=postgres://…); "
    "the embedded default is a SQLite file, with no server to restart.",
)
on_redis = pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")),
    reason="Restarts a Redis broker that keeps no messages: runs in the PostgreSQL + Redis pass "
    "(CELERY_BROKER_URL=redis://…); the embedded filesystem broker keeps its messages on disk.",
)

SMALL = {"model_key": "ltx-video", "num_frames": 9, "width": 256, "height": 256, "num_steps": 4, "guidance_scale": 3.0}
LONG = {"model_key": "ltx-video", "num_frames": 65, "width": 704, "height": 480, "num_steps": 30, "guidance_scale": 3.0}


@pytest.fixture
def redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    with broker_in_use(server.url):
        yield server
    server.kill()


def _job(pk) -> RenderJob:
    """The job's row, read again; a connection cut by a database restart is replaced."""
    try:
        return RenderJob.objects.get(pk=pk)
    except (OperationalError, InterfaceError):
        close_old_connections()
        connection.close()
        raise


def _finished(*pks, timeout: float) -> list[RenderJob]:
    def read():
        try:
            jobs = [_job(pk) for pk in pks]
        except (OperationalError, InterfaceError):
            return None
        return jobs if all(job.is_finished for job in jobs) else None

    return wait_for(read, timeout=timeout, interval=0.2, message=f"{len(pks)} jobs to finish")


def _assert_rendered_once(job: RenderJob, media_root) -> None:
    """Succeeded, charged what it used, and one playable clip in storage: a job run twice to completion
    would have stored two."""
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    assert job.charged_seconds == pytest.approx(job.gpu_seconds) and job.gpu_seconds > 0
    with job.output.open("rb") as clip:
        probed = probe_mp4(clip.read())
    assert (probed["width"], probed["height"], probed["frames"]) == (job.width, job.height, job.num_frames)
    assert [path.name for path in (media_root / "renders" / str(job.owner_id)).glob(f"{job.pk}*")] == [f"{job.pk}.mp4"]


def test_a_worker_killed_while_it_encodes_has_its_job_rendered_again_by_the_sweeper(
    tester, redis, start_worker, media_root, settings
):
    # A slow x264 preset keeps the clip in post-processing long enough to be caught there.
    worker = start_worker(name="encoding", CELERY_BROKER_URL=redis.url, BACKLOT_VIDEO_PRESET="slow")
    job = job_create(owner=tester, prompt="a kite in a gale", seed=11, **{**SMALL, "num_frames": 49, "width": 512})

    # The task returns once it has handed the frames to post-processing, and its message is acknowledged.
    encoding = wait_for(
        lambda: "succeeded in" in worker.log() and (j := _job(job.pk)).state == "running" and j,
        timeout=120,
        message="the render to reach post-processing",
    )
    (pool_process,) = psutil.Process(worker.pid).children()
    pool_process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    time.sleep(1)
    assert _job(job.pk).state == "running" and not _job(job.pk).output, "killed before the clip was stored"
    assert redis.messages("render.ltx-video") == 0, "the message was acknowledged when the render returned"

    # The sweeper (beat's generation.requeue_stale) finds the silent job and announces it again.
    settings.BACKLOT_STALE_SECONDS = 2
    wait_for(lambda: jobs_requeue_stale() == 1, timeout=30, interval=0.5, message="the sweeper to requeue the job")
    (done,) = _finished(job.pk, timeout=180)

    print(f"fault figures: killed while encoding, stored again {time.monotonic() - killed_at:.1f} s later")
    assert done.attempts == encoding.attempts + 1 == 2
    _assert_rendered_once(done, media_root)
    assert grant_usage(done.grant)["seconds_total"] == pytest.approx(done.gpu_seconds)
    assert jobs_requeue_stale() == 0


@on_redis
def test_jobs_waiting_when_the_broker_restarts_empty_each_run_exactly_once(
    tester, tester2, redis, start_worker, media_root, settings
):
    start_worker(name="broker", CELERY_BROKER_URL=redis.url)
    running = job_create(owner=tester, prompt="a long pan over dunes", seed=1, **LONG)
    wait_for(lambda: _job(running.pk).progress_step >= 1, timeout=120, message="the first render to start")
    waiting = [
        job_create(owner=owner, prompt=f"waiting {index}", seed=index, **SMALL)
        for index, owner in enumerate([tester, tester2, tester, tester2])
    ]
    assert redis.messages("render.ltx-video") == 4

    redis.kill()
    time.sleep(1)
    redis.start()
    restarted_at = time.monotonic()
    assert redis.messages("render.ltx-video") == 0, "a Redis without persistence comes back empty"

    settings.BACKLOT_REANNOUNCE_SECONDS = 1
    time.sleep(1.5)
    assert jobs_reannounce_waiting() == 4, "the sweeper announces the four waiting jobs again"
    finished = _finished(running.pk, *[job.pk for job in waiting], timeout=240)
    print(f"fault figures: broker restarted empty, all 5 jobs done {time.monotonic() - restarted_at:.1f} s later")

    for job in finished:
        assert job.attempts == 1, "no job was started twice"
        _assert_rendered_once(job, media_root)
    for owner in (tester, tester2):
        theirs = [job for job in finished if job.owner_id == owner.pk]
        assert grant_usage(theirs[0].grant)["seconds_total"] == pytest.approx(sum(job.gpu_seconds for job in theirs))
    assert jobs_reannounce_waiting() == 0 and jobs_requeue_stale() == 0


@on_postgres
@pytest.mark.django_db(transaction=False)
def test_a_render_outlasts_a_postgresql_restart_and_is_charged_once(redis, start_worker, media_root, django_db_blocker):
    from django.core.management import call_command

    server = PrivatePostgres()
    try:
        server.create()
        with django_db_blocker.unblock(), database_in_use(server.url):
            call_command("migrate", verbosity=0)
            cohort = standing_cohort(programme_create(name="Restart"))
            artist = member("artist@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
            worker = start_worker(name="postgres", CELERY_BROKER_URL=redis.url, DATABASE_URL=server.url)
            job = job_create(owner=artist, prompt="rain on a tin roof", seed=5, **LONG)

            before = wait_for(lambda: (j := _job(job.pk)).progress_step >= 3 and j, timeout=120, message="3 steps")
            assert before.state == "running" and before.progress_step < before.num_steps
            restart_started = time.monotonic()
            server.restart()
            restart_seconds = time.monotonic() - restart_started
            (done,) = _finished(job.pk, timeout=240)
            print(
                f"fault figures: PostgreSQL restarted in {restart_seconds:.1f} s at step {before.progress_step} of "
                f"{before.num_steps}; the render went on and finished in {done.duration_seconds:.1f} s, "
                f"{worker.log().count('generation.database_unavailable')} writes retried"
            )

            assert "generation.database_unavailable" in worker.log(), "the restart cut the worker's connection"
            assert done.attempts == 1, "the render went on through the restart rather than starting again"
            _assert_rendered_once(done, media_root)
            assert grant_usage(done.grant)["seconds_total"] == pytest.approx(done.gpu_seconds)
            assert jobs_requeue_stale() == 0
    finally:
        server.destroy()


def test_a_full_media_disk_fails_the_job_with_a_reason_refunds_it_and_the_worker_goes_on(
    tester, redis, start_worker, media_root
):
    start_worker(name="disk", CELERY_BROKER_URL=redis.url, MEDIA_STORAGE="tests.full_disk.FullDiskStorage")
    disk_fill(media_root)
    try:
        refused = [job_create(owner=tester, prompt=f"no room {seed}", seed=seed, **SMALL) for seed in (1, 2)]
        failed = _finished(*[job.pk for job in refused], timeout=120)
    finally:
        disk_free(media_root)

    for job in failed:
        assert (job.state, job.charged_seconds, job.output.name) == ("failed", 0, "")
        assert job.error == (
            "The clip could not be stored: the media storage is full. Its GPU time was refunded; try again later."
        )
        assert not list((media_root / "renders" / str(tester.pk)).glob(f"{job.pk}*"))
    assert grant_usage(failed[0].grant)["seconds_total"] == 0

    stored = job_create(owner=tester, prompt="room again", seed=3, **SMALL)
    (done,) = _finished(stored.pk, timeout=120)
    _assert_rendered_once(done, media_root)
    assert grant_usage(done.grant)["seconds_total"] == pytest.approx(done.gpu_seconds)
