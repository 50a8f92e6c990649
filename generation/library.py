"""A person's library of their own clips: favourites (clips they starred), collections (named groups of
clips) and comparing two clips side by side. Only finished clips (succeeded, not deleted) are starred,
collected or compared, and only by their owner; deleting a clip takes it out of all of them (job_unlist).
Pages (generation/library_views.py) and the API (generation/api.py) call these; they decide nothing else."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from core.rows import row_update_or_404
from core.text import text_problem
from generation.gallery import job_for, jobs_for
from generation.models import Collection, CollectionItem, Favourite, RenderJob
from generation.registry import MODELS

NAME_MAX_LENGTH = 80
COLLECTIONS_MAX = 200  # per person: a name list a page can show, and a bound on what a script can make
COMPARE_CHOICES = 48  # the recent clips the compare picker offers


# --- Reads ---------------------------------------------------------------------------------------


def jobs_with_favourite(jobs: QuerySet[RenderJob]) -> QuerySet[RenderJob]:
    """``jobs``, each with ``is_favourite``: read in the same query, whatever the number of jobs."""
    return jobs.annotate(is_favourite=Exists(Favourite.objects.filter(job=OuterRef("pk"), owner=OuterRef("owner"))))


def finished(jobs: QuerySet[RenderJob]) -> QuerySet[RenderJob]:
    """Of ``jobs``, those with a clip to keep: succeeded and not deleted."""
    return jobs.filter(state=RenderJob.State.SUCCEEDED, deleted_at__isnull=True).exclude(output="")


def collections_for(user) -> QuerySet[Collection]:
    """``user``'s collections, by name, each with its ``clip_count``."""
    if not user.is_authenticated:
        return Collection.objects.none()
    return Collection.objects.filter(owner=user).annotate(clip_count=Count("items"))


def collection_for(user, collection_id) -> Collection:
    """One of ``user``'s collections, or 404 (never 403, which would confirm it exists)."""
    return get_object_or_404(collections_for(user), pk=collection_id)


def collection_items(collection: Collection) -> QuerySet[CollectionItem]:
    """The collection's clips, newest addition first, each item's job read with it (and its star)."""
    return (
        CollectionItem.objects.filter(collection=collection, job__deleted_at__isnull=True)
        .select_related("job")
        .annotate(job_is_favourite=Exists(Favourite.objects.filter(job=OuterRef("job_id"), owner=collection.owner_id)))
        .order_by("-added_at", "-pk")
    )


def item_jobs(items) -> list[RenderJob]:
    """The jobs of ``items`` (from collection_items), each with ``is_favourite`` set."""
    jobs = []
    for item in items:
        item.job.is_favourite = item.job_is_favourite
        jobs.append(item.job)
    return jobs


def job_collections(job: RenderJob) -> list[tuple[Collection, bool]]:
    """Each of the job owner's collections, and whether ``job`` is in it: one query."""
    holding = CollectionItem.objects.filter(collection=OuterRef("pk"), job=job)
    collections = Collection.objects.filter(owner_id=job.owner_id).annotate(holds=Exists(holding))
    return [(collection, collection.holds) for collection in collections]


def compare_choices(user, *, chosen=()) -> list[RenderJob]:
    """The clips the compare picker offers: ``user``'s most recent finished ones, and any already chosen."""
    jobs = finished(jobs_for(user))
    recent = list(jobs.order_by("-queued_at", "-pk")[:COMPARE_CHOICES])
    missing = set(chosen) - {job.pk for job in recent}
    if missing:
        recent += list(jobs.filter(pk__in=missing))
    return recent


# --- Favourites ----------------------------------------------------------------------------------


def _keepable(job: RenderJob, owner) -> None:
    """Raise unless ``job`` is ``owner``'s own finished clip."""
    if job.owner_id != owner.pk:
        # Callers look the clip up among the person's own; this is the rule's second line.
        raise ValidationError({"job": "That is not one of your clips."})
    if job.deleted_at is not None:
        raise ValidationError({"job": "That clip was deleted."})
    if job.state != RenderJob.State.SUCCEEDED or not job.output:
        raise ValidationError({"job": f"Only finished clips can be kept; clip {job.short_id} is {job.state}."})


def favourite_set(*, owner, job: RenderJob, favourite: bool) -> bool:
    """Star (``favourite``) or unstar ``job`` for its owner. Returns whether anything changed; asking for
    what already is changes nothing. Raises ValidationError for a clip that is not the owner's, or not finished."""
    if not favourite:
        deleted, _ = Favourite.objects.filter(owner=owner, job=job).delete()
        return bool(deleted)
    _keepable(job, owner)
    _, created = Favourite.objects.get_or_create(owner=owner, job=job)
    return created


# --- Collections ---------------------------------------------------------------------------------


def _name_clean(name: str, *, owner, exclude: Collection | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the collection a name."})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"Collection names are limited to {NAME_MAX_LENGTH} characters."})
    problem = text_problem(name)
    if problem:
        raise ValidationError({"name": problem})
    same = Collection.objects.filter(owner=owner, name__iexact=name)
    if exclude is not None:
        same = same.exclude(pk=exclude.pk)
    if same.exists():
        raise ValidationError({"name": f"You already have a collection called {name!r}."})
    return name


def _duplicate(name: str) -> ValidationError:
    # Two requests with one new name at once: the database's unique index decides, with the same words.
    return ValidationError({"name": f"You already have a collection called {name!r}."})


@transaction.atomic
def collection_create(*, owner, name: str) -> Collection:
    """A new, empty collection of ``owner``'s. Raises ValidationError, and then makes nothing."""
    name = _name_clean(name, owner=owner)
    if Collection.objects.filter(owner=owner).count() >= COLLECTIONS_MAX:
        raise ValidationError({"name": f"You have {COLLECTIONS_MAX} collections, the most one person may keep."})
    try:
        with transaction.atomic():
            return Collection.objects.create(owner=owner, name=name)
    except IntegrityError:
        raise _duplicate(name) from None


@transaction.atomic
def collection_rename(*, collection: Collection, name: str) -> Collection:
    """Rename ``collection``; not found (404) when another request deleted it meanwhile."""
    name = _name_clean(name, owner=collection.owner_id, exclude=collection)
    if name != collection.name:
        try:
            with transaction.atomic():
                row_update_or_404(
                    collection, gone="That collection no longer exists.", name=name, updated_at=timezone.now()
                )
        except IntegrityError:
            raise _duplicate(name) from None
    return collection


def collection_delete(*, collection: Collection) -> None:
    """Delete the collection; its clips stay where they are (in the gallery and other collections)."""
    collection.delete()


def collection_add(*, collection: Collection, job: RenderJob) -> bool:
    """Put ``job`` in ``collection`` (both the same person's). Returns False when it was there already."""
    if job.owner_id != collection.owner_id:
        raise ValidationError({"job": "That is not one of your clips."})
    _keepable(job, job.owner)
    _, created = CollectionItem.objects.get_or_create(collection=collection, job=job)
    if created:
        Collection.objects.filter(pk=collection.pk).update(updated_at=timezone.now())
    return created


def collection_remove(*, collection: Collection, job_id) -> bool:
    """Take the clip ``job_id`` out of ``collection``. Returns False when it was not in it."""
    deleted, _ = CollectionItem.objects.filter(collection=collection, job_id=job_id).delete()
    return bool(deleted)


def job_unlist(*, job: RenderJob) -> None:
    """A deleted clip leaves the owner's favourites and every collection."""
    Favourite.objects.filter(job=job).delete()
    CollectionItem.objects.filter(job=job).delete()


# --- Compare -------------------------------------------------------------------------------------


def compare_pair(user, job_ids) -> tuple[RenderJob, RenderJob]:
    """Two of ``user``'s own finished clips to show side by side. Someone else's clip is 404 (as everywhere);
    not exactly two different clips, or one without a video, is a ValidationError that says which."""
    ids = list(dict.fromkeys(job_ids))  # the same clip ticked twice is one clip
    if len(ids) != 2:
        raise ValidationError(f"Choose two different clips to compare (you chose {len(ids)}).")
    pair = tuple(job_for(user, pk) for pk in ids)
    for job in pair:
        if job.state != RenderJob.State.SUCCEEDED or not job.output:
            raise ValidationError(f"Clip {job.short_id} is {job.state}: only finished clips can be compared.")
    return pair


@dataclass(frozen=True)
class SettingRow:
    label: str
    left: str
    right: str

    @property
    def differs(self) -> bool:
        return self.left != self.right


def _model_label(key: str) -> str:
    spec = MODELS.get(key)
    return spec.label if spec else key


def _source(job: RenderJob) -> str:
    return f"clip {job.source.short_id}" if job.source_id else "—"


def _described(job: RenderJob) -> dict[str, str]:
    fps = MODELS[job.model_key].fps if job.model_key in MODELS else None
    return {
        "Prompt": job.prompt,
        "Negative prompt": job.negative_prompt or "—",
        "Model": _model_label(job.model_key),
        "Mode": job.mode_label,
        "Made from": _source(job),
        "Strength": "—" if job.strength is None else f"{job.strength:g}",
        "Size": f"{job.width}×{job.height}",
        "Frames": f"{job.clip_frames}" + (f" ({job.clip_frames / fps:.1f} s at {fps} fps)" if fps else ""),
        "Steps": str(job.num_steps),
        "Guidance": f"{job.guidance_scale:g}",
        "Seed": str(job.seed),
        "Render time": "—" if job.gpu_seconds is None else f"{job.gpu_seconds:.1f} s",
    }


def settings_compare(left: RenderJob, right: RenderJob) -> list[SettingRow]:
    """The two clips' settings, one row each, in the same order; ``differs`` marks the rows that differ."""
    a, b = _described(left), _described(right)
    return [SettingRow(label, a[label], b[label]) for label in a]


def favourites_of(user) -> QuerySet[Favourite]:
    return Favourite.objects.filter(owner=user, job__deleted_at__isnull=True)
