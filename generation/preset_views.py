"""A person's own presets: save the generate form's settings as one, list, rename and delete them.
Programme presets are listed here to use; their admins manage them under /manage/<slug>/presets/."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from access.policy import current_grant
from generation import presets
from generation.forms import JobForm, PresetForm, PresetRenameForm
from generation.models import Preset
from generation.views import job_form_page


def _own_preset(user, preset_id) -> Preset:
    """One of ``user``'s own presets; a programme preset they may use is not theirs to change (404)."""
    preset = presets.preset_for(user, preset_id)
    if preset.owner_id != user.pk:
        raise Http404("No such preset of yours.")
    return preset


def _page(request, *, error: str = "", status: int = 200):
    context = {
        "own": Preset.objects.filter(owner=request.user),
        "shared": presets.presets_for(request.user).filter(programme__isnull=False),
        "error": error,
    }
    return render(request, "generation/presets.html", context, status=status)


@login_required
@require_GET
def preset_list(request):
    return _page(request)


@login_required
@require_POST
def preset_create(request):
    """Save the generate form's settings (sent here by its "Save as a preset" button) as a private preset.
    The seed is kept only when the person ticks the box for it."""
    data = request.POST
    keep_seed = bool(data.get("preset_keep_seed"))
    form = PresetForm(
        {**data.dict(), "name": data.get("preset_name", ""), "seed": data.get("seed", "") if keep_seed else ""}
    )
    if form.is_valid():
        try:
            preset = presets.preset_create(
                name=form.cleaned_data["name"], settings=form.settings(), owner=request.user, actor=request.user
            )
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, field_errors)
        else:
            messages.success(request, f"Saved these settings as the preset {preset.name!r}.")
            return redirect(f"{reverse('generation:job_create')}?preset={preset.pk}")
    job_form = JobForm(grant=current_grant(request.user), initial=data.dict())
    return job_form_page(request, job_form, preset_form=form, status=400)


@login_required
@require_POST
def preset_rename(request, preset_id):
    preset = _own_preset(request.user, preset_id)
    form = PresetRenameForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors["name"])
        presets.preset_rename(preset=preset, name=form.cleaned_data["name"], actor=request.user)
    except ValidationError as error:
        return _page(request, error=f"{preset.name}: {' '.join(error.messages)}", status=400)
    messages.success(request, f"Renamed the preset to {preset.name!r}.")
    return redirect("generation:preset_list")


@login_required
@require_POST
def preset_delete(request, preset_id):
    preset = _own_preset(request.user, preset_id)
    presets.preset_delete(preset=preset, actor=request.user)
    messages.success(request, f"Deleted the preset {preset.name!r}.")
    return redirect("generation:preset_list")
