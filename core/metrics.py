"""Prometheus metrics every web process counts, the guard in front of /metrics, and the exposition.

Counters here are incremented where the event happens (an API answer, a failed sign-in) in whichever web
process served it. Under gunicorn several processes serve: with BACKLOT_WEB_METRICS_DIR set (the web's
systemd unit sets it; platform/gunicorn.conf.py hands it to prometheus_client as PROMETHEUS_MULTIPROC_DIR and
empties the folder as gunicorn starts), prometheus_client keeps each process's values in that folder and a scrape of any
process sums them all. Without it (runserver, tests, one process) the values live in the process.

The fleet's state (jobs, queues, workers, durations) is not counted here: generation/metrics.py computes it
from the database at each scrape, so it is the same whichever process answers."""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.client_address import client_ip

__all__ = ["CONTENT_TYPE_LATEST", "API_REQUESTS", "SIGN_IN_FAILURES", "metrics_refusal", "exposition"]

API_REQUESTS = Counter(
    "backlot_api_requests", "API requests answered, by method and HTTP status code.", ["method", "status"]
)
SIGN_IN_FAILURES = Counter(
    "backlot_sign_in_failures",
    "Failed sign-ins: wrong_credentials (an unknown address or a wrong password) or locked_out (refused by the "
    "sign-in rate limit).",
    ["reason"],
)


class ApiRequestsMiddleware:
    """Count every answer to an /api/ path by its status code, whatever answered it (a view, a throttle, the
    access middleware). Outermost, so that it sees the final status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            API_REQUESTS.labels(method=request.method, status=str(response.status_code)).inc()
        return response


def metrics_refusal(request) -> tuple[int, str] | None:
    """Why this request may not read /metrics, as (status, reason), or None if it may.

    404 while neither BACKLOT_METRICS_TOKEN nor BACKLOT_METRICS_NETWORKS is set (metrics are off); 403 from an
    address outside BACKLOT_METRICS_NETWORKS when that is set; 401 without ``Authorization: Bearer <token>``
    matching BACKLOT_METRICS_TOKEN when that is set. With both set, both must hold."""
    token, networks = settings.BACKLOT_METRICS_TOKEN, settings.BACKLOT_METRICS_NETWORKS
    if not token and not networks:
        return 404, "Metrics are off: set BACKLOT_METRICS_TOKEN or BACKLOT_METRICS_NETWORKS."
    if networks and not _in_networks(client_ip(request), networks):
        return 403, "This address may not read the metrics (BACKLOT_METRICS_NETWORKS)."
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return 401, "Send the metrics token: Authorization: Bearer <BACKLOT_METRICS_TOKEN>."
    return None


def _in_networks(address: str | None, networks: list[str]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def exposition(*collectors) -> bytes:
    """The text exposition: this process's counters (every web process's, in multiprocess mode), then the
    given collectors' metrics, each collected once."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    extra = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        extra.register(collector)
    return counted + generate_latest(extra)
