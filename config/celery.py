import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

app = Celery("backlot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
