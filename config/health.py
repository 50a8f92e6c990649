"""What a load balancer and a monitor poll, composed here from each layer's own checks.

- ``/livez``: the process answers. No database, no cache, nothing else: a load balancer that restarts on a
  failing liveness probe must not restart every web process because PostgreSQL is away.
- ``/readyz``: the process can do its work: the database, the cache, the broker, media storage (a probe file
  written and deleted; free space) (core/readiness.py), and every model that an active programme offers and
  that has jobs waiting has a live worker (generation/readiness.py). 200 with every check, or 503 with a JSON
  body naming each failing check (and why, to the monitor: whoever may read /metrics).
- ``/healthz``: the database alone, as before (kept for existing monitors).
- ``/metrics``: Prometheus' text format, behind BACKLOT_METRICS_TOKEN and/or BACKLOT_METRICS_NETWORKS
  (core/metrics.py says how it refuses).

All of them are open to anyone (access/middleware.py lets them through for a suspended person too) and none is
rate limited: a monitor polls them every few seconds."""

from __future__ import annotations

import logging

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core import metrics, readiness
from generation.metrics import FleetCollector
from generation.readiness import workers_check

log = logging.getLogger(__name__)


@never_cache
@require_GET
def livez(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Anyone learns which checks fail; only the monitor (whoever may read /metrics) learns why and sees every
    check's figures: error text, paths, queue depths and worker counts are not for the open internet. The
    reasons are logged too."""
    checks = [*readiness.shared_checks(), readiness.timed("workers", workers_check)]
    failing = {check.name: check.detail for check in checks if not check.ok}
    if failing:
        log.warning("backlot.not_ready %s", " ".join(f"{name}={why!r}" for name, why in failing.items()))
    if metrics.metrics_refusal(request) is None:
        body = {"failing": failing, "checks": {check.name: check.as_dict() for check in checks}}
    else:
        body = {"failing": dict.fromkeys(failing, PUBLIC_REASON)}
    return JsonResponse({"status": "fail" if failing else "ok", **body}, status=503 if failing else 200)


PUBLIC_REASON = "failing: the reason is in the log, and in this answer to the metrics token or network"


@never_cache
@require_GET
def metrics_view(request):
    refusal = metrics.metrics_refusal(request)
    if refusal is not None:
        status, reason = refusal
        response = HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(FleetCollector()), content_type=metrics.CONTENT_TYPE_LATEST)
