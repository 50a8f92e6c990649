"""GPU-time charges have one home: generation/quota.py reserves, refunds and settles, and nothing else in
the code writes a job's charged_seconds (see tests/access/test_quota.py for the quota rules themselves)."""

import re
from pathlib import Path

import pytest

from access.models import Grant
from generation.models import RenderJob
from generation.quota import (
    QuotaExceeded,
    charge_refund,
    charge_reserve,
    charge_settle,
    grant_seconds_left,
    grant_usage,
)
from tests.factories import RenderJobFactory, render_settings

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
APPS = ["access", "generation", "feedback", "competition", "config", "core", "backups", "bench"]
# A keyword argument, a dict key or an attribute set: each a write of the column.
WRITES = re.compile(r"""(\bcharged_seconds\s*=(?!=)|["']charged_seconds["']\s*:)""")
# load_seed fabricates months of past jobs for the load benchmark, and the fleet bench's claim probe and the
# fair-share bench a deep queue with heavy users' history, in bulk, in databases of their own: they charge
# nothing real.
ALLOWED = {
    "generation/quota.py",
    "generation/load_seed.py",
    "generation/models.py",
    "bench/fleet.py",
    "bench/fair_share.py",
}


def test_only_the_quota_module_writes_charged_seconds():
    writers = {
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and WRITES.search(path.read_text())
    }
    assert writers <= ALLOWED, f"charged_seconds is written outside generation/quota.py: {sorted(writers - ALLOWED)}"
    assert "generation/quota.py" in writers


def test_the_model_field_is_the_only_match_in_models_py():
    lines = [line for line in (ROOT / "generation/models.py").read_text().splitlines() if WRITES.search(line)]
    assert lines == ["    charged_seconds = models.FloatField(default=0)"]


def test_charge_reserve_creates_the_job_with_its_estimate(tester):
    grant = Grant.objects.get(user=tester)
    job = charge_reserve(grant=grant, estimate=12.5, owner=tester, prompt="a wave", **render_settings(seed=1))
    assert job.charged_seconds == 12.5 and job.state == RenderJob.State.QUEUED
    assert grant_usage(grant)["seconds_reserved"] == 12.5


def test_charge_reserve_refuses_a_grant_without_room_and_creates_nothing(tester):
    grant = Grant.objects.get(user=tester)
    with pytest.raises(QuotaExceeded, match="for today are used"):
        charge_reserve(
            grant=grant,
            estimate=grant.gpu_seconds_per_day + 1,
            owner=tester,
            prompt="a wave",
            **render_settings(seed=1),
        )
    assert not RenderJob.objects.exists()


def test_charge_refund_ends_the_job_and_gives_back_its_reservation_once(tester):
    job = RenderJobFactory(owner=tester, charged_seconds=8.0)
    unfinished = RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.QUEUED)
    assert charge_refund(unfinished, state=RenderJob.State.CANCELLED) == 1
    assert charge_refund(unfinished, state=RenderJob.State.CANCELLED) == 0, "an ended job is not refunded again"
    job.refresh_from_db()
    assert (job.state, job.charged_seconds) == (RenderJob.State.CANCELLED, 0)


def test_charge_settle_replaces_the_reservation_with_what_the_render_used(tester):
    job = RenderJobFactory(owner=tester, charged_seconds=8.0, state=RenderJob.State.RUNNING)
    running = RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.RUNNING)
    assert charge_settle(running, device_seconds=3.25, state=RenderJob.State.SUCCEEDED) == 1
    job.refresh_from_db()
    assert (job.state, job.charged_seconds) == (RenderJob.State.SUCCEEDED, 3.25)
    assert grant_usage(job.grant)["seconds_total"] == 3.25


def test_what_a_grant_has_left_never_goes_below_zero(tester):
    grant = tester.grants.get()
    usage = {"seconds_today": grant.gpu_seconds_per_day + 5.0, "seconds_total": 100.0}
    assert grant_seconds_left(grant, usage) == (0.0, grant.gpu_seconds_total - 100.0)
