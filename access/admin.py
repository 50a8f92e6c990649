from allauth.account.decorators import secure_admin_login
from allauth.account.utils import get_next_redirect_url
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.shortcuts import redirect
from django.urls import reverse

from access.audit import client_ip
from access.models import (
    ApiToken,
    AuditEvent,
    Cohort,
    ContributionRate,
    Grant,
    Invitation,
    LeakAlert,
    Membership,
    Programme,
    Suspension,
    TermsVersion,
    User,
)
from access.rates import rate_publish
from access.terms import terms_publish
from access.tokens import token_revoke
from core.admin import CheckedAdmin, CheckedModelAdmin
from core.input_checks import CheckedInput


@secure_admin_login
def admin_sign_in(request, extra_context=None):
    """The admin's own password form is never shown: staff sign in through allauth like everyone else (its
    two-factor step, rate limits, the audit trail, the new-network email) and come back here. Anyone signed in
    who is not active staff gets 403; nobody's password is checked on this page."""
    return redirect(get_next_redirect_url(request) or reverse("admin:index"))


admin.site.login = admin_sign_in


@admin.register(User)
class UserAdmin(CheckedAdmin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "is_active", "is_staff", "last_login"]
    search_fields = ["email", "display_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name", "first_name", "last_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


# Raw records. Changes made here bypass the services (access/suspensions.py ...): no audit event, no sign-out, no email.
# Day-to-day work belongs on the programme admin pages under /manage/.


@admin.register(Membership)
class MembershipAdmin(CheckedModelAdmin):
    list_display = ["user", "programme", "role", "cohort", "created_at"]
    list_filter = ["role", "programme"]
    search_fields = ["user__email", "user__display_name"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "programme", "cohort"]


@admin.register(Invitation)
class InvitationAdmin(CheckedModelAdmin):
    list_display = ["email", "programme", "role", "cohort", "state", "sent_at", "send_count", "expires_at"]
    list_filter = ["role", "programme"]
    search_fields = ["email"]
    readonly_fields = [
        "token_digest",
        "invited_by",
        "created_at",
        "sent_at",
        "send_count",
        "accepted_at",
        "accepted_by",
    ]
    list_select_related = ["programme", "cohort"]

    def has_add_permission(self, request):
        # An invitation needs a secret link and an email; only invitations_create makes both.
        return False


@admin.register(Grant)
class GrantAdmin(CheckedModelAdmin):
    list_display = ["user", "programme", "starts_at", "ends_at", "gpu_seconds_per_day", "gpu_seconds_total"]
    list_filter = ["programme"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "updated_at"]
    list_select_related = ["user", "programme"]


@admin.register(Suspension)
class SuspensionAdmin(CheckedModelAdmin):
    list_display = ["__str__", "programme", "scope", "kind", "starts_at", "ends_at", "lifted_at"]
    list_filter = ["scope", "kind", "programme"]
    search_fields = ["user__email", "cohort__name", "reason"]
    raw_id_fields = ["user", "created_by", "lifted_by"]
    readonly_fields = ["created_at"]
    list_select_related = ["user", "cohort", "programme"]


class ReadOnlyModelAdmin(CheckedModelAdmin):
    """Look, never touch: nobody adds, changes or deletes these rows here, superusers included. Every
    change goes through the pages and services that audit it, or the rows are append-only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Programme)
class ProgrammeAdmin(ReadOnlyModelAdmin):
    """Set up on the operator's programme console (/staff/programmes/), changed on the programme's Manage pages."""

    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Cohort)
class CohortAdmin(ReadOnlyModelAdmin):
    """Created and their grants changed on the programme's Manage pages (/manage/<slug>/cohorts/)."""

    list_display = ["name", "programme", "slug", "grant_days", "gpu_seconds_per_day", "gpu_seconds_total"]
    list_filter = ["programme"]
    search_fields = ["name", "slug"]
    list_select_related = ["programme"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    """The audit trail is append-only: nobody adds, changes or deletes events here, superusers included."""

    list_display = ["at", "action", "actor", "subject", "programme", "target", "ip"]
    list_filter = ["action", "programme"]
    search_fields = ["action", "target", "reason", "actor__email", "subject__email"]
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    list_select_related = ["actor", "subject", "programme"]


@admin.register(ApiToken)
class ApiTokenAdmin(CheckedModelAdmin):
    """Tokens are made by their owners; admins can only look and revoke (through the service, audited)."""

    list_display = ["name", "user", "hint", "scopes", "state", "expires_at", "last_used_at", "last_used_ip"]
    search_fields = ["user__email", "name", "hint"]
    readonly_fields = [field.name for field in ApiToken._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = 0
        for record in queryset.filter(revoked_at__isnull=True):
            token_revoke(record=record, actor=request.user, reason="Revoked by an admin", ip=client_ip(request))
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).")


@admin.register(LeakAlert)
class LeakAlertAdmin(CheckedModelAdmin):
    """Decide alerts on the review page (/leak-alerts/); here they are read-only records."""

    list_display = ["created_at", "kind", "user", "credential", "state", "decided_by"]
    list_filter = ["kind", "state"]
    readonly_fields = [field.name for field in LeakAlert._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TermsVersionForm(CheckedInput, forms.ModelForm):
    class Meta:
        model = TermsVersion
        fields = ["programme", "text", "changes"]

    def clean(self):
        cleaned = super().clean()
        programme = cleaned.get("programme")
        if programme and TermsVersion.objects.filter(programme=programme).exists() and not cleaned.get("changes"):
            self.add_error("changes", "Say what changed: testers are shown it before they accept.")
        return cleaned


@admin.register(TermsVersion)
class TermsVersionAdmin(CheckedModelAdmin):
    """Publishing a version goes through the service (numbered, audited); versions are never edited."""

    form = TermsVersionForm
    list_display = ["programme", "version", "published_at", "published_by"]

    def has_change_permission(self, request, obj=None):
        return obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        published = terms_publish(
            programme=obj.programme, text=obj.text, changes=obj.changes, actor=request.user, ip=client_ip(request)
        )
        obj.pk, obj.version = published.pk, published.version


@admin.register(ContributionRate)
class ContributionRateAdmin(CheckedModelAdmin):
    """Publishing a rate goes through the service (checked, audited); rates are never edited or deleted."""

    list_display = ["programme", "kind", "severity", "points", "amount", "currency", "effective_from"]
    list_filter = ["programme", "kind"]
    fields = ["programme", "kind", "severity", "points", "amount", "currency", "effective_from"]

    def has_change_permission(self, request, obj=None):
        return obj is None

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        published = rate_publish(
            programme=obj.programme,
            kind=obj.kind,
            severity=obj.severity,
            points=obj.points,
            amount=obj.amount,
            currency=obj.currency,
            effective_from=obj.effective_from,
            actor=request.user,
            ip=client_ip(request),
        )
        obj.pk = published.pk
