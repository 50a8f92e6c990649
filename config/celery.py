import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

SWEEP_QUEUE = "sweeps"
FILM_QUEUE = "films"


def worker_argv(*options: str, loglevel: str = "INFO") -> list[str]:
    """The command of one worker as the platform runs it (platform/systemd/backlot-worker@.service): one
    render at a time, no prefetch, no gossip or mingle; ``options`` add to it (-Q, --hostname, ...)."""
    import sys

    one_at_a_time = ["--concurrency", "1", "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle"]
    return [sys.executable, "-m", "celery", "-A", "config", "worker", *one_at_a_time, *options, "--loglevel", loglevel]


app = Celery("backlot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def declare_model_queues(sender, **kwargs):
    """One queue per model, one for the sweeper, so that it never waits behind renders nor
    depends on which models a fleet serves, and one for reading entered films (CPU work, minutes for a
    long film, kept off the GPU workers and the sweeper); a worker started without -Q serves them all
    (the embedded default)."""
    from generation.registry import MODELS

    sender.conf.task_queues = [Queue(spec.queue) for spec in MODELS.values()] + [Queue(SWEEP_QUEUE), Queue(FILM_QUEUE)]
    sender.conf.task_default_queue = next(iter(MODELS.values())).queue
    sender.conf.task_routes = {
        "generation.requeue_stale": {"queue": SWEEP_QUEUE},
        "competition.films_reannounce": {"queue": SWEEP_QUEUE},
        "competition.film_process": {"queue": FILM_QUEUE},
    }
