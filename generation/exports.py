"""A person's render jobs, as sections of their data export (access/export.py)."""

from __future__ import annotations

from access.export import json_text, section, when
from core.csv_export import csv_text
from generation.models import RenderJob
from generation.render_settings import REQUEST_FIELDS

JOB_FIELDS = [
    "id",
    *REQUEST_FIELDS,
    "state",
    "error",
    "queued_at",
    "started_at",
    "finished_at",
    "gpu_seconds",
    "charged_seconds",
]


def _job_rows(user) -> list[dict]:
    rows = []
    for job in RenderJob.objects.filter(owner=user).order_by("queued_at").values(*JOB_FIELDS).iterator():
        job["id"] = str(job["id"])
        for field in ("queued_at", "started_at", "finished_at"):
            job[field] = when(job[field])
        rows.append(job)
    return rows


@section(
    "jobs.csv",
    "Every render job you submitted, one row each: settings, state and timings. "
    "The video files are not included; download them from each clip's page.",
)
def jobs_csv(user) -> str:
    return csv_text(JOB_FIELDS, _job_rows(user))


@section("jobs.json", "The same jobs as jobs.csv, as JSON.")
def jobs_json(user) -> str:
    return json_text(_job_rows(user))
