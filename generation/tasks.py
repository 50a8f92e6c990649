import contextlib

from celery import shared_task
from celery.signals import worker_process_init, worker_process_shutdown
from django.conf import settings

from generation import postprocess
from generation.health import worker_mark_unhealthy
from generation.render import job_render
from generation.sweeper import jobs_reannounce_waiting, jobs_requeue_stale


@shared_task(name="generation.render_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True, bind=True)
def render_job(self, job_id: str) -> None:
    job_render(job_id=job_id, worker=self.request.hostname or "worker", task_id=self.request.id or "")


@shared_task(name="generation.requeue_stale", ignore_result=True)
def requeue_stale() -> None:
    """The sweeper (beat, every 30 s): jobs whose worker vanished, and waiting jobs whose message was lost."""
    jobs_requeue_stale()
    jobs_reannounce_waiting()


@worker_process_init.connect
def load_models_at_start(sender=None, **kwargs) -> None:
    """In the process that renders (never the parent: a forked child of a process that ran inference hangs).
    A model that does not load marks the worker (``sender``, its node name) unhealthy before it takes a job."""
    if settings.BACKLOT_PRELOAD_MODELS:
        from generation.runner import pipelines_preload

        failures = pipelines_preload(settings.BACKLOT_PRELOAD_MODELS)
        if failures and sender:
            _forget_inherited_connections()
            worker_mark_unhealthy(hostname=str(sender), reason=" ".join(failures.values()))


def _forget_inherited_connections() -> None:
    """Drop database connections this new process inherited from its parent without closing them (closing
    would end the parent's session too), as Celery's Django fixup does; this receiver may run before it."""
    from celery.fixups.django import _maybe_close_fd
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            with contextlib.suppress(Exception):
                _maybe_close_fd(conn.connection)
            conn.connection = None


@worker_process_shutdown.connect
def finish_post_processing(**kwargs) -> None:
    """A worker asked to stop finishes encoding and storing the clips it has rendered."""
    postprocess.drain()
