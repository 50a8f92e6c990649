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
