"""Programme pages about generation under /manage/<slug>/: the prompt policy and programme presets
(for the programme's admins), and the prompts the policy refused (for its admins and red team).
Everyone else gets 404. Every change goes through a service with the admin as actor, so it is
audited; bad input re-renders the page with the errors and status 400, having changed nothing."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.audit import client_ip
from access.decorators import programme_access_required, programme_admin_required
from access.policy import is_programme_admin, may_read_prompt_refusals
from core.form_errors import form_apply
from generation import presets, prompt_policy
from generation.forms import PresetForm, PresetRenameForm
from generation.manage_forms import PromptRuleForm, PromptTestForm, RefusalFilter
from generation.models import Preset, PromptRule


def _policy_url(programme) -> str:
    return reverse("generation_manage:prompt_policy", args=[programme.slug])


# --- Prompt policy -------------------------------------------------------------------------------


def _policy_page(request, programme, *, form=None, test_form=None, test_matches=None, error="", status=200):
    context = {
        "programme": programme,
        "error": error,
        "rules": PromptRule.objects.filter(programme=programme).order_by("kind", "text"),
        "form": form or PromptRuleForm(),
        "test_form": test_form or PromptTestForm(),
        "test_matches": test_matches,
    }
    return render(request, "generation/manage/prompt_policy.html", context, status=status)


@programme_admin_required
@require_http_methods(["GET", "POST"])
def prompt_policy_page(request, programme):
    if request.method == "GET":
        return _policy_page(request, programme)
    form = PromptRuleForm(request.POST)
    if applied := form_apply(
        form,
        lambda data: prompt_policy.prompt_rule_create(
            programme=programme, actor=request.user, ip=client_ip(request), **data
        ),
    ):
        messages.success(request, f"Added {applied.result}.")
        return redirect(_policy_url(programme))
    return _policy_page(request, programme, form=form, status=400)


@programme_admin_required
@require_POST
def prompt_policy_test(request, programme):
    """Which rules a prompt would break; nothing is recorded."""
    form = PromptTestForm(request.POST)
    if not form.is_valid():
        return _policy_page(request, programme, test_form=form, status=400)
    matches = prompt_policy.prompt_matches(programme, form.cleaned_data["prompt"], form.cleaned_data["negative_prompt"])
    return _policy_page(request, programme, test_form=form, test_matches=matches)


@programme_admin_required
@require_http_methods(["GET", "POST"])
def prompt_rule_edit(request, programme, rule_id):
    rule = get_object_or_404(PromptRule, pk=rule_id, programme=programme)
    initial = {"kind": rule.kind, "text": rule.text, "reason": rule.reason, "enabled": rule.enabled}
    form = PromptRuleForm(request.POST if request.method == "POST" else None, initial=initial)
    if form_apply(
        form,
        lambda data: prompt_policy.prompt_rule_update(rule=rule, actor=request.user, ip=client_ip(request), **data),
    ):
        messages.success(request, f"Saved {rule}.")
        return redirect(_policy_url(programme))
    context = {"programme": programme, "rule": rule, "form": form}
    return render(request, "generation/manage/prompt_rule.html", context, status=400 if form.errors else 200)


@programme_admin_required
@require_POST
def prompt_rule_toggle(request, programme, rule_id):
    rule = get_object_or_404(PromptRule, pk=rule_id, programme=programme)
    prompt_policy.prompt_rule_update(rule=rule, enabled=not rule.enabled, actor=request.user, ip=client_ip(request))
    messages.success(request, f"{'Disabled' if rule.enabled else 'Enabled'} {rule}.")
    return redirect(_policy_url(programme))


@programme_admin_required
@require_POST
def prompt_rule_delete(request, programme, rule_id):
    rule = get_object_or_404(PromptRule, pk=rule_id, programme=programme)
    try:
        prompt_policy.prompt_rule_delete(rule=rule, actor=request.user, ip=client_ip(request))
    except ValidationError as error:
        return _policy_page(request, programme, error=f"{rule}: {' '.join(error.messages)}", status=400)
    messages.success(request, f"Deleted {rule}.")
    return redirect(_policy_url(programme))


# --- Refusals ------------------------------------------------------------------------------------


@programme_access_required(may_read_prompt_refusals)
@require_GET
def refusals(request, programme):
    filterset = RefusalFilter(
        request.GET or None, queryset=prompt_policy.programme_refusals(programme), programme=programme
    )
    valid = filterset.is_valid() if filterset.is_bound else True
    found = filterset.qs if valid else filterset.queryset.none()
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "programme": programme,
        "filterset": filterset,
        "page_obj": Paginator(found, 50).get_page(request.GET.get("page")),
        "query": query.urlencode(),
        "is_admin": is_programme_admin(request.user, programme),
    }
    return render(request, "generation/manage/refusals.html", context, status=200 if valid else 400)


# --- Programme presets ---------------------------------------------------------------------------


def _presets_page(request, programme, *, form=None, error: str = "", status=200):
    context = {
        "programme": programme,
        "presets": Preset.objects.filter(programme=programme),
        "form": form or PresetForm(),
        "error": error,
    }
    return render(request, "generation/manage/presets.html", context, status=status)


def _presets_url(programme) -> str:
    return reverse("generation_manage:presets", args=[programme.slug])


@programme_admin_required
@require_http_methods(["GET", "POST"])
def programme_presets(request, programme):
    if request.method == "GET":
        return _presets_page(request, programme)
    form = PresetForm(request.POST)
    if applied := form_apply(
        form,
        lambda data: presets.preset_create(
            name=data["name"], settings=form.settings(), programme=programme, actor=request.user, ip=client_ip(request)
        ),
    ):
        preset = applied.result
        messages.success(request, f"Added the preset {preset.name!r}; everyone in {programme.name} can use it.")
        return redirect(_presets_url(programme))
    return _presets_page(request, programme, form=form, status=400)


@programme_admin_required
@require_POST
def programme_preset_rename(request, programme, preset_id):
    preset = get_object_or_404(Preset, pk=preset_id, programme=programme)
    form = PresetRenameForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors["name"])
        presets.preset_rename(preset=preset, name=form.cleaned_data["name"], actor=request.user, ip=client_ip(request))
    except ValidationError as error:
        return _presets_page(request, programme, error=f"{preset.name}: {' '.join(error.messages)}", status=400)
    messages.success(request, f"Renamed the preset to {preset.name!r}.")
    return redirect(_presets_url(programme))


@programme_admin_required
@require_POST
def programme_preset_delete(request, programme, preset_id):
    preset = get_object_or_404(Preset, pk=preset_id, programme=programme)
    presets.preset_delete(preset=preset, actor=request.user, ip=client_ip(request))
    messages.success(request, f"Deleted the preset {preset.name!r}.")
    return redirect(_presets_url(programme))
