import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

app = Celery("backlot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def declare_model_queues(sender, **kwargs):
    """One queue per model; a worker started without -Q serves them all (the embedded default)."""
    from generation.registry import MODELS

    sender.conf.task_queues = [Queue(spec.queue) for spec in MODELS.values()]
    sender.conf.task_default_queue = next(iter(MODELS.values())).queue
