"""Celery signal receivers that keep each worker's row (generation.models.Worker) current. They run
in worker processes only and cost a few small UPDATEs per job, none per step."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

from celery import signals
from django.conf import settings
from django.db import close_old_connections, connection

from generation import health, metrics, workers
from generation.broker import RENDER_TASK
from generation.sweeper import jobs_requeue_of_worker

log = logging.getLogger(__name__)

_heartbeat_stop = threading.Event()


def _configured_device() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return settings.BACKLOT_DEVICE + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else "")


def _render_device() -> str:
    """The device a render used, known once this process has rendered; never imports torch itself."""
    if "torch" not in sys.modules or "generation.runner" not in sys.modules:
        return ""
    from generation.runner import device_label

    try:
        return device_label()
    except Exception:  # a label is not worth failing a task for
        log.exception("generation.worker_device_unknown")
        return ""


def _heartbeat(identity: dict, consumer) -> None:
    while not _heartbeat_stop.wait(settings.BACKLOT_WORKER_HEARTBEAT_SECONDS):
        try:
            close_old_connections()
            workers.worker_seen(**identity)
            _consume_as_health_says(consumer, identity)
        except Exception:  # the database may be away for a moment; the next beat tries again
            log.exception("generation.worker_heartbeat_failed worker=%s", identity["hostname"])


# The model queues this worker has stopped consuming because it is unhealthy (generation/health.py).
_queues_stopped: list[str] = []


def _consume_as_health_says(consumer, identity: dict) -> None:
    """An unhealthy worker consumes none of its model queues; one that staff reset consumes them again. The
    changes run on the consumer's own loop (call_soon), as Celery's remote control runs them."""
    healthy = health.worker_is_healthy(identity["hostname"])
    if not healthy and not _queues_stopped:
        _queues_stopped.extend(name for name in identity["queues"] if name.startswith("render."))
        for name in _queues_stopped:
            consumer.call_soon(consumer.cancel_task_queue, name)
        log.warning("generation.worker_stopped_consuming worker=%s queues=%s", identity["hostname"], _queues_stopped)
    elif healthy and _queues_stopped:
        for name in _queues_stopped:
            consumer.call_soon(consumer.add_task_queue, name)
        log.info("generation.worker_consuming_again worker=%s queues=%s", identity["hostname"], _queues_stopped)
        _queues_stopped.clear()


def _exit_after_cold_shutdown() -> None:
    """After a cold shutdown (a second Ctrl-C), exit without billiard's pool finalizer: it writes to a queue
    whose lock the pool process it just cut off can die holding, and then waits for it forever. By then the
    job's message is back on the broker, and the job is taken back when this worker's name starts again.
    Registered after multiprocessing's own exit function, so it runs first; a warm stop exits as usual."""
    from celery.worker import state

    if state.should_terminate is None:
        return
    log.warning("generation.worker_cold_stop exiting without the pool's finalizer")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(state.should_terminate or 0)


@signals.worker_ready.connect
def on_worker_ready(sender, **kwargs):
    atexit.register(_exit_after_cold_shutdown)
    identity = {
        "hostname": sender.hostname,
        "queues": sorted(sender.app.amqp.queues.consume_from),
        "device": _configured_device(),
        "pid": os.getpid(),
    }
    workers.worker_started(**identity)
    try:
        jobs_requeue_of_worker(sender.hostname)
    except Exception:  # the sweeper takes them back later; a worker must start anyway
        log.exception("generation.requeue_at_start_failed worker=%s", sender.hostname)
    try:  # a worker still marked unhealthy (a restart keeps the mark) takes no job
        _consume_as_health_says(sender, identity)
    except Exception:  # its heartbeat tries again; its renders refuse jobs meanwhile
        log.exception("generation.worker_health_unknown worker=%s", sender.hostname)
    connection.close()  # the parent forks pool processes again later; none of them should share this
    _heartbeat_stop.clear()
    threading.Thread(target=_heartbeat, args=(identity, sender), name="backlot-worker-heartbeat", daemon=True).start()


@signals.worker_process_init.connect
def serve_worker_metrics(sender=None, **kwargs):
    """The process that renders serves its own counters (generation/metrics.py) for Prometheus to scrape: one
    port per GPU worker (BACKLOT_WORKER_METRICS_PORT), off when 0."""
    if settings.BACKLOT_WORKER_METRICS_PORT:
        metrics.worker_metrics_serve(
            port=settings.BACKLOT_WORKER_METRICS_PORT, host=settings.BACKLOT_WORKER_METRICS_HOST
        )


@signals.task_prerun.connect
def on_task_prerun(sender=None, task=None, **kwargs):
    if task is not None and task.name == RENDER_TASK and task.request.hostname:
        workers.worker_busy(hostname=task.request.hostname)


@signals.task_postrun.connect
def on_task_postrun(sender=None, task=None, **kwargs):
    if task is not None and task.name == RENDER_TASK and task.request.hostname:
        workers.worker_idle(hostname=task.request.hostname, device=_render_device())


@signals.worker_shutdown.connect
def on_worker_shutdown(sender, **kwargs):
    _heartbeat_stop.set()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        workers.worker_stopped(hostname=hostname)
