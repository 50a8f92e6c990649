"""Read-mostly views of feedback records for operators. Changes go through the pages and services, which
audit them; the ledger is never edited here."""

from django.contrib import admin

from access.admin import ReadOnlyModelAdmin
from core.admin import CheckedModelAdmin
from feedback.models import ClipRating, HarmCategory, LedgerEntry, ModelVersion, Payout, Report, ShowcaseOffer


@admin.register(Report)
class ReportAdmin(CheckedModelAdmin):
    list_display = ["id", "kind", "title", "severity", "state", "reporter", "programme", "created_at"]
    list_filter = ["kind", "state", "severity", "programme"]
    search_fields = ["title", "reporter__email"]
    readonly_fields = [field.name for field in Report._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "person", "programme", "kind", "points", "amount", "currency", "created_at"]
    list_filter = ["kind", "currency", "programme"]
    search_fields = ["person__email", "reason"]


for model in (ClipRating, HarmCategory, ModelVersion, Payout, ShowcaseOffer):
    admin.site.register(model, CheckedModelAdmin)
