import json

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Prefetch
from django.utils.functional import cached_property

from access.admin import ReadOnlyModelAdmin
from core.admin import CheckedModelAdmin
from generation.models import Preset, PromptRefusal, PromptRule, RenderJob, Worker
from generation.registry import model_choices


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows: an exact COUNT(*) over a million jobs costs more than the page
    itself. Past the cap the admin offers the first COUNT_CAP rows' pages; filters narrow the rest.

    Counting even to the cap reads COUNT_CAP rows (11 ms for one model's jobs at a million, more for a rarer
    filter), so on PostgreSQL the planner's estimate of the rows is asked first (one EXPLAIN, no rows read):
    where it is ESTIMATE_MARGIN times the cap or more, the count is the cap without counting. With
    ``estimate=False`` (a search, whose estimate is a guess) it always counts."""

    COUNT_CAP = 10_000
    ESTIMATE_MARGIN = 4

    def __init__(self, *args, estimate: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.estimate = estimate

    @cached_property
    def count(self) -> int:
        rows = self.object_list.order_by()
        if self.estimate and (planned_rows(rows) or 0) >= self.ESTIMATE_MARGIN * self.COUNT_CAP:
            return self.COUNT_CAP
        return rows[: self.COUNT_CAP].count()


def planned_rows(queryset) -> int | None:
    """How many rows PostgreSQL's planner expects ``queryset`` to return (from the tables' statistics, reading
    no rows), or None on another database."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    plan = json.loads(queryset.explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


class JobChangeList(ChangeList):
    """The job list reads only the columns it shows, and each page's owners apart (their id, email and name):
    joined in the page's query, every owner is read for each row the database skips to reach a deep page
    (2,500 of them for page 50), and each job's prompt and settings would be read for nothing.

    Each row's link carries the list's filters and page (so that going back returns to them) as Django writes it,
    but the query is added once per page: Django's admin adds ``preserved_filters`` to each row's address apart,
    resolving the address against every URL pattern for each row (about 5 ms of a page of 50 rows)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.row_link_query, self.preserved_filters = self.preserved_filters, ""

    def url_for_result(self, result) -> str:
        url = super().url_for_result(result)
        return f"{url}?{self.row_link_query}" if self.row_link_query else url

    def get_queryset(self, request, exclude_parameters=None):
        owners = Prefetch("owner", queryset=get_user_model().objects.only("id", "email", "display_name"))
        jobs = super().get_queryset(request, exclude_parameters)
        columns = {field.name for field in RenderJob._meta.concrete_fields}
        shown = [name for name in self.list_display if name in columns]  # not the checkbox, nor a method's name
        return jobs.only(*shown).prefetch_related(owners)


class ModelKeyFilter(admin.SimpleListFilter):
    """The registry's models, not a SELECT DISTINCT over every job."""

    title = "model"
    parameter_name = "model_key"

    def lookups(self, request, model_admin):
        return model_choices()

    def queryset(self, request, queryset):
        return queryset.filter(model_key=self.value()) if self.value() else queryset


@admin.register(RenderJob)
class RenderJobAdmin(CheckedModelAdmin):
    list_display = ["id", "owner", "model_key", "state", "progress_step", "progress_total", "queued_at", "gpu_seconds"]
    list_filter = ["state", ModelKeyFilter, "held", ("deleted_at", admin.EmptyFieldListFilter)]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    search_fields = ["id", "owner__email", "prompt"]
    readonly_fields = [field.name for field in RenderJob._meta.fields]
    list_select_related = []  # the owners are read apart, for the page's rows only (JobChangeList)

    def get_changelist(self, request, **kwargs):
        return JobChangeList

    def changelist_view(self, request, extra_context=None):
        # Without the admin's side bar, which lists every model with its links: 5-8 ms of the page's rendering at
        # 28 models, where the list must answer in under 50 ms at a million jobs (bench/big_data.py). The admin's
        # home page and the breadcrumbs lead to the other models.
        return super().changelist_view(request, {**(extra_context or {}), "is_nav_sidebar_enabled": False})

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        searched = bool(request.GET.get(SEARCH_VAR))
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, estimate=not searched)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a job's row is kept for quota, audit and leak tracing; its owner deletes the clip


@admin.register(Worker)
class WorkerAdmin(CheckedModelAdmin):
    """Written by the workers themselves; the staff queue page (/staff/queue/) is the place to watch them."""

    list_display = ["hostname", "queues", "state", "unhealthy_since", "current_job", "jobs_done", "device", "last_seen"]
    readonly_fields = [field.name for field in Worker._meta.fields]


# Read-only here: the prompt policy and programme presets change on the programme's pages, where
# every change is audited; refusals are append-only.


@admin.register(PromptRule)
class PromptRuleAdmin(ReadOnlyModelAdmin):
    list_display = ["text", "kind", "programme", "enabled", "reason", "created_by", "created_at"]
    list_filter = ["programme", "kind", "enabled"]
    search_fields = ["text", "reason"]


@admin.register(PromptRefusal)
class PromptRefusalAdmin(ReadOnlyModelAdmin):
    list_display = ["at", "user", "programme", "rule_text", "matched_text", "via"]
    list_filter = ["programme", "via"]
    search_fields = ["user__email", "prompt", "rule_text"]
    list_select_related = ["user", "programme"]


@admin.register(Preset)
class PresetAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "owner", "programme", "model_key", "width", "height", "num_frames", "num_steps"]
    list_filter = ["programme", "model_key"]
    search_fields = ["name", "owner__email"]
