"""Prometheus metrics of the render fleet, in two places.

**The fleet, from the database, at each scrape of the web's /metrics** (FleetCollector). The job row is the
single source of truth for a render, and jobs change state in many processes (the web cancels, a GPU worker
renders, the sweeper fails a job whose worker vanished), so the fleet-wide view is read from the rows: the same
whichever web process answers, complete whichever worker died, and one scrape target. Every query is bounded:
the active jobs (queued and running rows only, through the (model_key, state) index), the jobs that finished
within BACKLOT_METRICS_WINDOW_MINUTES (the finished_at index; counted and bucketed in SQL in one pass, so the
cost follows the fleet's throughput over the window, not its history: 20,000 jobs in the window take about
0.4 s), the worker rows (one per worker process) and the leak alerts (a small table). Durations over the
window are exposed as gauge histograms:
``histogram_quantile(0.95, sum by (le, model) (backlot_job_render_seconds_bucket))`` is the 95th percentile
over the window, with no rate().

**Each GPU worker, counted as it renders** (WORKER_REGISTRY): renders by outcome, render, encode and wait
histograms (true counters since the process started, for rate() over any range), GPU seconds by model and
programme, failures by reason. The process that renders (Celery's pool process; one per GPU with
--concurrency 1) serves them on BACKLOT_WORKER_METRICS_PORT (generation/signals.py), one port per GPU, so
Prometheus scrapes every worker as its own target."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, FloatField, Func, Min, Q, Sum
from django.db.models.functions import Substr
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily

from access.models import LeakAlert
from generation import workers
from generation.models import RenderJob, Worker
from generation.registry import MODELS

log = logging.getLogger(__name__)

# Seconds; wide enough for a smoke render (under a second) and a 14B model's long clip (tens of minutes).
DURATION_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400)

# --- Why a job failed, as a label: its error text, by the messages the code writes -----------------------

_FAILURE_REASONS = (
    ("time_limit", re.compile(r"^The render took longer than")),
    ("worker_faults", re.compile(r"^The render failed \d+ times for faults")),
    ("workers_unhealthy", re.compile(r"^\d+ workers turned unhealthy over this job")),
    ("worker_lost", re.compile(r"^The render stopped its worker \d+ times")),
    ("render_error", re.compile(r"^The render failed: ")),
    ("model_unavailable", re.compile(r"^Could not load ")),
    ("storage_full", re.compile(r"^The clip could not be stored: the media storage is full")),
    ("signing", re.compile(r"^The clip could not be signed")),
    ("encoding", re.compile(r"^The clip could not be encoded or stored")),
)
FAILURE_REASONS = tuple(name for name, _ in _FAILURE_REASONS) + ("other",)


def failure_reason(error: str) -> str:
    """A failed job's error text as one of FAILURE_REASONS (a bounded label, never the text itself)."""
    for name, pattern in _FAILURE_REASONS:
        if pattern.match(error or ""):
            return name
    return "other"


# --- The fleet, from the database -----------------------------------------------------------------------


class SecondsBetween(Func):
    """``later - earlier`` in seconds, as a float the database works out natively (Django's duration
    arithmetic calls a Python function per row on SQLite: 200 times slower over a busy window)."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))", arg_joiner=" - ")

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
        )


_WAIT = SecondsBetween(F("started_at"), F("queued_at"))


def _window_aggregates() -> dict:
    """Per (model, state): the count, and for each histogram how many rows fall at or under each bound, and
    the sum (the caller keeps render and encode for clips made only)."""
    aggregates: dict = {"count": Count("pk")}
    started = Q(started_at__isnull=False)
    for index, bound in enumerate(WAIT_BUCKETS):
        aggregates[f"wait_{index}"] = Count("pk", filter=started & Q(waited__lte=bound))
    aggregates["wait_n"] = Count("pk", filter=started)
    aggregates["wait_sum"] = Sum("waited")
    for name, field in (("render", "gpu_seconds"), ("encode", "encode_seconds")):
        for index, bound in enumerate(DURATION_BUCKETS):
            aggregates[f"{name}_{index}"] = Count("pk", filter=Q(**{f"{field}__lte": bound}))
        aggregates[f"{name}_n"] = Count(field)
        aggregates[f"{name}_sum"] = Sum(field)
    return aggregates


def _bucket_rows(into: dict, key: str, row: dict, name: str, bounds) -> None:
    """Add one (model, state) row's cumulative bucket counts and sum for histogram ``name`` to ``into[key]``."""
    counted, total = into.get(key, ([0] * (len(bounds) + 1), 0.0))
    values = [row[f"{name}_{index}"] for index in range(len(bounds))] + [row[f"{name}_n"]]
    addition = row[f"{name}_sum"] or 0.0
    into[key] = ([a + b for a, b in zip(counted, values, strict=True)], total + addition)


class FleetCollector:
    """The render fleet as the database holds it, collected at each scrape (see the module's docstring)."""

    def collect(self):
        now = timezone.now()
        models = list(MODELS)
        yield from self._active(now, models)
        yield from self._window(now, models)
        yield from self._workers(now)
        yield from self._leak_alerts()

    def _active(self, now, models):
        jobs = GaugeMetricFamily(
            "backlot_jobs", "Jobs waiting (queued) or rendering (running) now.", labels=["model", "state"]
        )
        depth = GaugeMetricFamily(
            "backlot_queue_depth", "Jobs waiting to start (queued, not held by staff).", labels=["model"]
        )
        held = GaugeMetricFamily("backlot_queue_held", "Waiting jobs that staff hold.", labels=["model"])
        oldest = GaugeMetricFamily(
            "backlot_queue_oldest_waiting_seconds",
            "How long the model's longest-waiting job (queued, not held) has waited; 0 when none waits.",
            labels=["model"],
        )
        counts: dict = defaultdict(int)
        first: dict = {}
        active = RenderJob.objects.filter(state__in=[RenderJob.State.QUEUED, RenderJob.State.RUNNING]).order_by()
        for row in active.values("model_key", "state", "held").annotate(count=Count("pk"), oldest=Min("queued_at")):
            counts[(row["model_key"], row["state"], row["held"])] += row["count"]
            if row["state"] == RenderJob.State.QUEUED and not row["held"]:
                first[row["model_key"]] = row["oldest"]
        keys = sorted(set(models) | {key for key, _, _ in counts}, key=_order)
        for key in keys:
            waiting = counts[(key, "queued", False)]
            jobs.add_metric([key, "queued"], waiting + counts[(key, "queued", True)])
            jobs.add_metric([key, "running"], counts[(key, "running", False)] + counts[(key, "running", True)])
            depth.add_metric([key], waiting)
            held.add_metric([key], counts[(key, "queued", True)])
            oldest.add_metric([key], (now - first[key]).total_seconds() if key in first else 0.0)
        yield from (jobs, depth, held, oldest)

    def _window(self, now, models):
        window = settings.BACKLOT_METRICS_WINDOW_MINUTES
        since = now - timedelta(minutes=window)
        about = f"over the jobs that finished in the last {window} minutes (BACKLOT_METRICS_WINDOW_MINUTES)"
        finished = GaugeMetricFamily(
            "backlot_jobs_finished_window", f"Jobs finished, by outcome, {about}.", labels=["model", "state"]
        )
        failures = GaugeMetricFamily(
            "backlot_job_failures_window", f"Failed jobs by reason, {about}.", labels=["model", "reason"]
        )
        gpu = GaugeMetricFamily(
            "backlot_gpu_seconds_served_window",
            f"GPU seconds of the clips made, by model and programme, {about}.",
            labels=["model", "programme"],
        )
        histograms = {
            "wait": GaugeHistogramMetricFamily(
                "backlot_job_wait_seconds", f"Seconds from queued to started, {about}.", labels=["model"]
            ),
            "render": GaugeHistogramMetricFamily(
                "backlot_job_render_seconds",
                f"Seconds the pipeline ran on the device (clips made), {about}.",
                labels=["model"],
            ),
            "encode": GaugeHistogramMetricFamily(
                "backlot_job_encode_seconds",
                f"Seconds marking, encoding, signing and storing took (clips made), {about}.",
                labels=["model"],
            ),
        }
        recent = RenderJob.objects.filter(finished_at__gte=since).order_by()
        # One pass over the window's rows (the finished_at index) for the outcomes and every bucket, in SQL.
        counts = recent.annotate(waited=_WAIT).values("model_key", "state").annotate(**_window_aggregates())
        states: dict = defaultdict(int)
        buckets: dict = {name: {} for name in histograms}
        for row in counts:
            key = row["model_key"]
            states[(key, row["state"])] += row["count"]
            _bucket_rows(buckets["wait"], key, row, "wait", WAIT_BUCKETS)
            if row["state"] == RenderJob.State.SUCCEEDED:
                _bucket_rows(buckets["render"], key, row, "render", DURATION_BUCKETS)
                _bucket_rows(buckets["encode"], key, row, "encode", DURATION_BUCKETS)
        keys = sorted(set(models) | {key for key, _ in states}, key=_order)
        for key in keys:
            for state in RenderJob.FINISHED_STATES:
                finished.add_metric([key, state], states[(key, state)])
            for name, family in histograms.items():
                bounds = WAIT_BUCKETS if name == "wait" else DURATION_BUCKETS
                counted, total = buckets[name].get(key, ([0] * (len(bounds) + 1), 0.0))
                labels = [str(float(bound)) for bound in bounds] + ["+Inf"]
                family.add_metric([key], [(le, float(c)) for le, c in zip(labels, counted, strict=True)], total)
        # The failed jobs' reasons (the first words of each error; failures are few) and GPU time per programme.
        reasons: dict = defaultdict(int)
        failed = recent.filter(state=RenderJob.State.FAILED).annotate(head=Substr("error", 1, 80))
        for key, head in failed.values_list("model_key", "head"):
            reasons[(key, failure_reason(head))] += 1
        for (key, reason), count in sorted(reasons.items()):
            failures.add_metric([key, reason], count)
        served = (
            recent.filter(state=RenderJob.State.SUCCEEDED)
            .values_list("model_key", "grant__programme__slug")
            .annotate(seconds=Sum("gpu_seconds", default=0.0))
        )
        for key, programme, seconds in sorted(served):
            gpu.add_metric([key, programme], seconds)
        yield from (finished, failures, gpu, *histograms.values())

    def _workers(self, now):
        statuses = GaugeMetricFamily(
            "backlot_workers", "Worker processes by status: idle, busy, offline, stopped, unhealthy.", labels=["status"]
        )
        alive = GaugeMetricFamily(
            "backlot_workers_alive",
            "Workers able to take jobs now (healthy, heard from within three heartbeats), per queue they consume "
            "and the model it renders (empty for films and sweeps).",
            labels=["queue", "model"],
        )
        unhealthy = GaugeMetricFamily(
            "backlot_worker_unhealthy",
            "1 while the worker has marked itself unhealthy (generation/health.py) until staff reset it.",
            labels=["worker"],
        )
        silent = GaugeMetricFamily(
            "backlot_worker_last_seen_seconds", "Seconds since the worker's last sign of life.", labels=["worker"]
        )
        by_status: dict = defaultdict(int)
        by_queue: dict = defaultdict(int)
        for worker in Worker.objects.select_related("current_job"):
            status = workers.worker_status(worker, now=now)
            if not worker.is_healthy and status != "stopped":
                status = "unhealthy"
            by_status[str(status)] += 1
            queues = [name for name in worker.queues.split(",") if name]
            for queue in queues:
                by_queue[queue] += 0
                if status in (Worker.State.IDLE, Worker.State.BUSY):
                    by_queue[queue] += 1
            if status != "stopped":
                unhealthy.add_metric([worker.hostname], 0 if worker.is_healthy else 1)
                silent.add_metric([worker.hostname], (now - workers.worker_last_sign(worker)).total_seconds())
        for status in ("idle", "busy", "offline", "stopped", "unhealthy"):
            statuses.add_metric([status], by_status[status])
        for key in MODELS:
            by_queue[f"render.{key}"] += 0
        for queue, count in sorted(by_queue.items()):
            alive.add_metric([queue, queue.removeprefix("render.") if queue.startswith("render.") else ""], count)
        yield from (statuses, alive, unhealthy, silent)

    def _leak_alerts(self):
        family = GaugeMetricFamily("backlot_leak_alerts", "Leak alerts by kind and state.", labels=["kind", "state"])
        counts = dict.fromkeys(((kind, state) for kind in LeakAlert.Kind.values for state in LeakAlert.State.values), 0)
        for row in LeakAlert.objects.order_by().values("kind", "state").annotate(count=Count("pk")):
            counts[(row["kind"], row["state"])] = row["count"]
        for (kind, state), count in sorted(counts.items()):
            family.add_metric([kind, state], count)
        yield family


def _order(key: str) -> int:
    keys = list(MODELS)
    return keys.index(key) if key in keys else len(keys)


# --- Each worker, as it renders ---------------------------------------------------------------------------

WORKER_REGISTRY = CollectorRegistry()
WORKER_RENDERS = Counter(
    "backlot_worker_renders",
    "Jobs this worker process finished, by outcome: succeeded, failed, cancelled (stopped mid-render), "
    "worker_fault (a fault of the worker's own: the job went back to the queue, or failed once spent).",
    ["model", "outcome"],
    registry=WORKER_REGISTRY,
)
WORKER_FAILURES = Counter(
    "backlot_worker_failures", "Jobs this worker failed, by reason.", ["model", "reason"], registry=WORKER_REGISTRY
)
WORKER_GPU_SECONDS = Counter(
    "backlot_worker_gpu_seconds",
    "GPU seconds of the clips this worker made, by model and programme.",
    ["model", "programme"],
    registry=WORKER_REGISTRY,
)
WORKER_RENDER_SECONDS = Histogram(
    "backlot_worker_render_seconds",
    "Seconds the pipeline ran on the device, per clip made.",
    ["model"],
    buckets=DURATION_BUCKETS,
    registry=WORKER_REGISTRY,
)
WORKER_ENCODE_SECONDS = Histogram(
    "backlot_worker_encode_seconds",
    "Seconds marking, encoding, signing and storing took, per clip made.",
    ["model"],
    buckets=DURATION_BUCKETS,
    registry=WORKER_REGISTRY,
)
WORKER_WAIT_SECONDS = Histogram(
    "backlot_worker_wait_seconds",
    "Seconds each job this worker claimed had waited since it was queued.",
    ["model"],
    buckets=WAIT_BUCKETS,
    registry=WORKER_REGISTRY,
)


def worker_claimed(job: RenderJob) -> None:
    if job.started_at is not None:
        WORKER_WAIT_SECONDS.labels(job.model_key).observe(max(0.0, (job.started_at - job.queued_at).total_seconds()))


def worker_succeeded(job: RenderJob, *, device_seconds: float, encode_seconds: float) -> None:
    programme = RenderJob.objects.filter(pk=job.pk).values_list("grant__programme__slug", flat=True).first() or ""
    WORKER_RENDERS.labels(job.model_key, "succeeded").inc()
    WORKER_RENDER_SECONDS.labels(job.model_key).observe(device_seconds)
    WORKER_ENCODE_SECONDS.labels(job.model_key).observe(encode_seconds)
    WORKER_GPU_SECONDS.labels(job.model_key, programme).inc(device_seconds)


def worker_ended(job: RenderJob, *, state: str, reason: str) -> None:
    outcome = "failed" if state == RenderJob.State.FAILED else "cancelled"
    WORKER_RENDERS.labels(job.model_key, outcome).inc()
    if outcome == "failed":
        WORKER_FAILURES.labels(job.model_key, failure_reason(reason)).inc()


def worker_faulted(job: RenderJob) -> None:
    WORKER_RENDERS.labels(job.model_key, "worker_fault").inc()


def worker_metrics_serve(*, port: int, host: str) -> bool:
    """Serve WORKER_REGISTRY on ``host:port`` from this process (a daemon thread). False if the port is taken."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host, registry=WORKER_REGISTRY)
    except OSError:
        log.exception("generation.worker_metrics_unavailable port=%s", port)
        return False
    log.info("generation.worker_metrics_serving address=%s:%s", host, port)
    return True
