"""What the broker holds. The job rows say what should run; the broker only carries announcements
("a job of this model is waiting"), and a broker that restarts without persistence loses them."""

from __future__ import annotations

import contextlib
import logging

log = logging.getLogger(__name__)

RENDER_TASK = "generation.render_job"


def job_announce(job_id, *, queue: str) -> None:
    """Tell the workers of ``queue`` that the job is waiting. The task is sent by its name, so the services
    that call this never import the tasks that call them (generation/tasks.py imports the services)."""
    from celery import current_app

    current_app.send_task(RENDER_TASK, args=[str(job_id)], queue=queue)


def messages_waiting(queue: str) -> int | None:
    """Messages waiting in ``queue`` (not those a worker has taken), or None when the broker cannot
    be asked. A queue the broker does not know holds none."""
    from celery import current_app as app
    from kombu.exceptions import ChannelError

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            try:
                return channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:
                return 0
            finally:
                with contextlib.suppress(Exception):  # an AMQP broker has already closed it after a refusal
                    channel.close()
    except Exception:  # the sweeper tries again at its next run
        log.exception("generation.broker_unreachable queue=%s", queue)
        return None
