# gunicorn settings for the Backlot web process: `gunicorn config.wsgi --config platform/gunicorn.conf.py`.
# The web process never loads a model; renders happen in Celery workers.
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# Which peers gunicorn believes X-Forwarded-Proto from, for wsgi.url_scheme only: gunicorn never changes
# REMOTE_ADDR. The client's address is Backlot's own (BACKLOT_TRUSTED_PROXIES, core/client_address.py).
# Unset, gunicorn trusts the same proxies ("unix", a socket peer, is one gunicorn trusts anyway).
_proxies = [entry.strip() for entry in os.environ.get("BACKLOT_TRUSTED_PROXIES", "").split(",")]
_proxies = [entry for entry in _proxies if entry and entry.lower() != "unix"]
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or ",".join(_proxies) or "127.0.0.1,::1"

# Metrics (core/metrics.py): with BACKLOT_WEB_METRICS_DIR set, each gunicorn process keeps its counters in that
# folder (prometheus_client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR, set here before any process imports the
# app) and /metrics, whichever process answers, sums them. The folder is emptied as gunicorn starts (values of a
# previous run would be added again), and an exited process's live values are dropped.
_metrics_dir = os.environ.get("BACKLOT_WEB_METRICS_DIR", "")
if _metrics_dir:
    os.environ.update(PROMETHEUS_MULTIPROC_DIR=_metrics_dir)  # prometheus_client reads it as each process starts


def on_starting(server):
    if _metrics_dir:
        os.makedirs(_metrics_dir, exist_ok=True)
        for name in os.listdir(_metrics_dir):
            if name.endswith(".db"):
                os.remove(os.path.join(_metrics_dir, name))


def child_exit(server, worker):
    if _metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
