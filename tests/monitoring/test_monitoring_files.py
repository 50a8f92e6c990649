"""platform/prometheus-alerts.yml and platform/grafana-dashboard.json: they load, every expression names only
metrics Backlot really exposes (read from a real /metrics scrape and a worker's registry), and, where promtool
is installed (Debian's `prometheus` package), the rules pass `promtool check rules` and the unit tests in
tests/monitoring/alerts_test.yml (an alert fires, or does not, on given series)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from generation import metrics
from generation.models import Worker
from tests.factories import RenderJobFactory

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "platform" / "prometheus-alerts.yml"
DASHBOARD = ROOT / "platform" / "grafana-dashboard.json"
ALERT_TESTS = Path(__file__).with_name("alerts_test.yml")
NAMES = re.compile(r"\bbacklot_[a-z0-9_]+")
# What each alert in the handbook's list is called in the rules.
HANDBOOK_ALERTS = {
    "a model with waiting jobs and no worker": "BacklotModelWaitingWithoutWorker",
    "failures rising": "BacklotFailuresRising",
    "a worker unhealthy": "BacklotWorkerUnhealthy",
    "the oldest job waiting too long": "BacklotOldestJobWaitingTooLong",
    "disk filling": "BacklotMediaDiskFilling",
}


def _rules() -> list[dict]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


@pytest.fixture
def exposed(client, settings, tester) -> set[str]:
    """Every sample name /metrics and a worker's registry expose, with a sample in every family: a worker, a
    clip made and a job failed within the window."""
    now = timezone.now()
    Worker.objects.create(hostname="gpu0@box", queues="render.ltx-video", started_at=now, last_seen=now)
    RenderJobFactory(owner=tester, state="succeeded", started_at=now, finished_at=now, gpu_seconds=3.0)
    RenderJobFactory(owner=tester, state="failed", started_at=now, finished_at=now, error="The render failed: x")
    settings.BACKLOT_METRICS_TOKEN = "monitoring-files-token-0123"
    text = client.get("/metrics", headers={"Authorization": "Bearer monitoring-files-token-0123"}).content
    metrics.WORKER_RENDERS.labels("ltx-video", "succeeded").inc(0)
    metrics.WORKER_FAILURES.labels("ltx-video", "other").inc(0)
    metrics.WORKER_GPU_SECONDS.labels("ltx-video", "p").inc(0)
    for histogram in (metrics.WORKER_RENDER_SECONDS, metrics.WORKER_ENCODE_SECONDS, metrics.WORKER_WAIT_SECONDS):
        histogram.labels("ltx-video")
    from core.metrics import API_REQUESTS, SIGN_IN_FAILURES

    API_REQUESTS.labels(method="GET", status="200").inc(0)
    SIGN_IN_FAILURES.labels(reason="wrong_credentials").inc(0)
    text = text.decode() + generate_latest(metrics.WORKER_REGISTRY).decode()
    text += generate_latest().decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_alert_rules_load_and_list_their_expressions():
    rules = _rules()
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
    listed = {rule["alert"]: " ".join(rule["expr"].split()) for rule in rules}
    print("\n".join(f"{name}: {expr}" for name, expr in listed.items()))
    assert set(HANDBOOK_ALERTS.values()) <= set(listed)


@pytest.mark.django_db
def test_every_metric_the_alerts_and_dashboard_read_is_exposed(exposed):
    expressions = [rule["expr"] for rule in _rules()]
    dashboard = json.loads(DASHBOARD.read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    read = {name for expr in expressions for name in NAMES.findall(expr)}
    assert len(read) > 10
    assert read - exposed == set(), "expressions read metrics nothing exposes"


def test_the_dashboard_is_a_grafana_dashboard():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "backlot-fleet" and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat"} and panel["targets"], panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (apt-get install prometheus)")
def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    checked = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in checked.stdout
    tested = subprocess.run(["promtool", "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
