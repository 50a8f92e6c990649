"""Post-render work off the GPU's path.

Marks, encoding, the poster frame and storage are CPU work. A worker hands each finished render to
one post-processing thread in its own process and goes straight back to the queue, so the GPU starts
the next job while the last one is encoded. The hand-off queue is bounded: when post-processing falls
behind, the render loop waits rather than piling up decoded frames in memory.

If the process dies with work still in the queue, those jobs are left 'running' with a stale heartbeat,
and the sweeper (generation.requeue_stale) gives them to another worker.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

_lock = threading.Lock()
_backlog: queue.Queue | None = None
_thread: threading.Thread | None = None


def submit(work: Callable[[], None]) -> None:
    """Run ``work`` after the render that produced it, beside the next one (or now, when inline)."""
    if settings.BACKLOT_POSTPROCESS_INLINE:
        work()
        return
    _start().put(work)  # blocks while the backlog is full


def drain() -> None:
    """Wait until every handed-off job is finished (a worker shutting down, a test)."""
    if _backlog is not None:
        _backlog.join()


def pending() -> int:
    return _backlog.unfinished_tasks if _backlog is not None else 0


def _start() -> queue.Queue:
    global _backlog, _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _backlog = queue.Queue(maxsize=max(1, settings.BACKLOT_POSTPROCESS_BACKLOG))
            _thread = threading.Thread(target=_run, args=(_backlog,), name="backlot-postprocess", daemon=True)
            _thread.start()
        return _backlog


def _run(backlog: queue.Queue) -> None:
    while True:
        work = backlog.get()
        try:
            work()
        except Exception:  # the work records its own failures on the job; this only keeps the thread alive
            log.exception("generation.postprocess_crashed")
        finally:
            connections.close_all()
            backlog.task_done()
