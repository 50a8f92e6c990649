from django.contrib import admin

from generation.models import RenderJob


@admin.register(RenderJob)
class RenderJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "model_key", "state", "progress_step", "progress_total", "queued_at", "gpu_seconds"]
    list_filter = ["state", "model_key"]
    search_fields = ["id", "owner__email", "prompt"]
    readonly_fields = [field.name for field in RenderJob._meta.fields]
    list_select_related = ["owner"]

    def has_add_permission(self, request):
        return False
