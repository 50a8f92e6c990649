from django.contrib import admin

from generation.models import RenderJob, Worker


@admin.register(RenderJob)
class RenderJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "model_key", "state", "progress_step", "progress_total", "queued_at", "gpu_seconds"]
    list_filter = ["state", "model_key", "held", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "owner__email", "prompt"]
    readonly_fields = [field.name for field in RenderJob._meta.fields]
    list_select_related = ["owner"]

    def has_add_permission(self, request):
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    """Written by the workers themselves; the staff queue page (/manage/queue/) is the place to watch them."""

    list_display = ["hostname", "queues", "state", "current_job", "jobs_done", "device", "last_seen"]
    readonly_fields = [field.name for field in Worker._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
