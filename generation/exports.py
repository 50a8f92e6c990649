"""A person's render jobs, as sections of their data export (access/export.py)."""

from __future__ import annotations

from access.export import json_text, section, when
from core.csv_export import csv_text
from generation.models import Collection, CollectionItem, Favourite, InputImage, RenderJob
from generation.registry import MODE_INPUTS
from generation.render_settings import REQUEST_FIELDS

JOB_FIELDS = [
    "id",
    *REQUEST_FIELDS,
    "mode",
    *MODE_INPUTS,
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
        for field in ("id", "image", "last_image", "source"):
            job[field] = "" if job[field] is None else str(job[field])
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


IMAGE_FIELDS = ["id", "format", "width", "height", "bytes", "sha256", "created_at"]


@section(
    "input_images.json",
    "The images you uploaded to start clips from (image to video, first and last frames): their ids, as the "
    "jobs name them, type, size and SHA-256. The images themselves stay private to you and are not included.",
)
def input_images_json(user) -> str:
    rows = []
    for image in InputImage.objects.filter(owner=user).order_by("created_at").values(*IMAGE_FIELDS):
        rows.append({**image, "id": str(image["id"]), "created_at": when(image["created_at"])})
    return json_text(rows)


@section("favourites.json", "The clips you starred: each clip's id (as jobs.csv names it) and when you starred it.")
def favourites_json(user) -> str:
    rows = Favourite.objects.filter(owner=user).order_by("created_at", "pk").values_list("job_id", "created_at")
    return json_text([{"job": str(job), "starred_at": when(at)} for job, at in rows])


@section(
    "collections.json",
    "Your collections: each one's name, when you made it, and its clips (ids as jobs.csv names them), "
    "the latest added first.",
)
def collections_json(user) -> str:
    collections = Collection.objects.filter(owner=user).order_by("created_at", "pk")
    items = CollectionItem.objects.filter(collection__owner=user).order_by("-added_at", "-pk")
    clips: dict[int, list] = {}
    for collection_id, job_id, added_at in items.values_list("collection_id", "job_id", "added_at"):
        clips.setdefault(collection_id, []).append({"job": str(job_id), "added_at": when(added_at)})
    return json_text(
        [{"name": c.name, "created_at": when(c.created_at), "clips": clips.get(c.pk, [])} for c in collections]
    )
