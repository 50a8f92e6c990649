"""Worker writes that outlast a database restart.

A render takes minutes; the database may restart under it (an upgrade, a failover). Its connection
then breaks, and the worker's next write would fail a render that is otherwise fine. The worker's
writes to a job are single conditional statements, safe to repeat, so they reconnect and try again
for up to BACKLOT_DATABASE_RETRY_SECONDS. Past that the error stands: the job stays 'running' with
a stale heartbeat and the sweeper resolves it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

log = logging.getLogger(__name__)


def outlasting_database_restarts(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        deadline = time.monotonic() + settings.BACKLOT_DATABASE_RETRY_SECONDS
        pause = 0.25
        while True:
            try:
                return function(*args, **kwargs)
            except (OperationalError, InterfaceError) as error:
                if connection.in_atomic_block or time.monotonic() + pause > deadline:
                    raise
                log.warning("generation.database_unavailable call=%s error=%s", function.__name__, error)
                with contextlib.suppress(Exception):  # the connection is already broken
                    connection.close()
                time.sleep(pause)
                pause = min(2 * pause, 2.0)

    return wrapper


def retried(write):
    """Run ``write()`` (a single statement) through database restarts."""
    return outlasting_database_restarts(write)()
