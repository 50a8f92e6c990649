"""Celery signal receivers that keep each worker's row (generation.models.Worker) current. They run
in worker processes only and cost a few small UPDATEs per job, none per step."""

from __future__ import annotations

import logging
import os
import sys
import threading

from celery import signals
from django.conf import settings
from django.db import close_old_connections, connection

from generation import workers
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


def _heartbeat(identity: dict) -> None:
    while not _heartbeat_stop.wait(settings.BACKLOT_WORKER_HEARTBEAT_SECONDS):
        try:
            close_old_connections()
            workers.worker_seen(**identity)
        except Exception:  # the database may be away for a moment; the next beat tries again
            log.exception("generation.worker_heartbeat_failed worker=%s", identity["hostname"])


@signals.worker_ready.connect
def on_worker_ready(sender, **kwargs):
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
    connection.close()  # the parent forks pool processes again later; none of them should share this
    _heartbeat_stop.clear()
    threading.Thread(target=_heartbeat, args=(identity,), name="backlot-worker-heartbeat", daemon=True).start()


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
