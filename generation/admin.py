from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from access.admin import ReadOnlyModelAdmin
from core.admin import CheckedModelAdmin
from generation.models import Preset, PromptRefusal, PromptRule, RenderJob, Worker
from generation.registry import model_choices


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows: an exact COUNT(*) over a million jobs costs more than the page
    itself. Past the cap the admin offers the first COUNT_CAP rows' pages; filters narrow the rest."""

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: self.COUNT_CAP].count()


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
    list_select_related = ["owner"]

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
