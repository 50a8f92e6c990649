import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from access import leaks
from access.policy import current_grant, may_render
from access.programmes import programmes_red_teamed_by
from core.ranges import file_response
from core.ratelimits import RateLimited, retry_after
from core.urls import reverse_one
from generation import (
    composer,
    estimates,
    gallery,
    job_actions,
    library,
    presets,
    progress,
    quota,
    render_settings,
    submission,
)
from generation.forms import KEPT_IMAGES, KEPT_ON_MODEL_SWITCH, GalleryFilterForm, JobForm
from generation.media import DOWNLOAD, POSTER, MediaRefused, media_resolve, media_url
from generation.models import RenderJob
from generation.registry import MODELS
from generation.remix import remix_request
from generation.render_settings import RenderSettings

GALLERY_PAGE_SIZE = 24


@login_required
@require_GET
def job_list(request):
    """The gallery: the person's own clips, newest first, filtered and searched, a page at a time."""
    form = GalleryFilterForm(request.GET)
    context = {
        "form": form,
        "page": None,
        "cards": [],
        "filtering": False,
        "red_teamed": programmes_red_teamed_by(request.user),
    }
    if form.is_valid():
        jobs = gallery.jobs_filter(library.jobs_with_favourite(gallery.jobs_for(request.user)), **form.filters())
        page = gallery.keyset_page(jobs, cursor=form.cleaned_data["cursor"], size=GALLERY_PAGE_SIZE)
        waiting = estimates.queue_estimates(page.jobs)
        context |= {
            "page": page,
            "cards": [_card_context(job, waiting.get(job.pk)) for job in page.jobs],
            "filtering": any(form.filters().values()),
            "newer_url": _gallery_url(request, page.newer),
            "older_url": _gallery_url(request, page.older),
            "newest_url": _gallery_url(request, "") if page.newer else None,
        }
    return render(request, "generation/job_list.html", context, status=400 if form.errors else 200)


def _gallery_url(request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = request.GET.copy()
    query.pop("cursor", None)
    if cursor:
        query["cursor"] = cursor
    return f"?{query.urlencode()}"


def _card_context(job: RenderJob, estimate=None) -> dict:
    spec = MODELS.get(job.model_key)
    succeeded = job.state == RenderJob.State.SUCCEEDED
    return {
        "job": job,
        "card_url": reverse_one("generation:job_card", job.pk),
        "model_label": spec.label if spec else job.model_key,
        "poster_url": media_url(job, poster=True) if succeeded and job.poster else None,
        # The hover preview: fetched only when it is asked to play (preload="none").
        "video_url": media_url(job) if succeeded and job.output else None,
        "queue_position": estimate[0] if estimate else None,
        # The gallery asks less often than the clip page: it may show many running clips at once.
        "poll_seconds": settings.BACKLOT_PROGRESS_POLL_SECONDS * 5,
    }


@login_required
@require_GET
def job_card(request, job_id):
    job = get_object_or_404(library.jobs_with_favourite(gallery.jobs_for(request.user)), pk=job_id)
    estimate = estimates.queue_estimates([job]).get(job.pk)
    return render(request, "generation/_job_card.html", _card_context(job, estimate))


@login_required
@require_http_methods(["GET", "POST"])
def job_create(request):
    decision = may_render(request.user)
    if not decision:
        raise PermissionDenied(decision.reason)
    preset = _preset_chosen(request)
    initial = (_remix_initial(request) or _derive_initial(request) or {}) | (_preset_initial(preset) if preset else {})
    initial = initial or {key: request.GET[key] for key in KEPT_ON_MODEL_SWITCH if key in request.GET}
    form = JobForm(
        request.POST or None, request.FILES or None, grant=current_grant(request.user), initial=initial or None
    )
    if request.method == "POST" and form.is_valid():
        settings_ = form.settings()
        count = settings_.pop("variations")
        try:
            jobs = submission.jobs_submit(
                owner=request.user,
                count=count,
                credential=leaks.request_credential(request),
                **settings_,
                **_mode_inputs(request.user, form),
            )
        except RateLimited as limited:
            form.add_error(None, str(limited))
            return retry_after(job_form_page(request, form, preset=preset, status=429), limited)
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, field_errors)
        except quota.QuotaExceeded as error:
            form.add_error(None, str(error))
        else:
            if request.htmx:
                return _queued_on_the_composer(request, form, jobs)
            if len(jobs) == 1:
                return redirect(jobs[0])
            messages.success(request, f"{len(jobs)} variations queued, seeds {jobs[0].seed} to {jobs[-1].seed}.")
            return redirect("generation:job_list")
    return job_form_page(request, form, preset=preset, status=400 if form.errors else 200)


# What the composer keeps for the next clip after queueing one from the page: everything but the uploads,
# the remix's seed, and a seed the page chose (a typed seed stays, for changing one thing at a time).
KEPT_AFTER_QUEUEING = (
    "prompt",
    "negative_prompt",
    "model_key",
    "mode",
    "source",
    "strength",
    "num_frames",
    "width",
    "height",
    "num_steps",
    "guidance_scale",
    "variations",
)


def _queued_on_the_composer(request, form: JobForm, jobs: list[RenderJob]):
    """A submission through htmx stays on the generate page: the form again with the same settings and a
    note naming the clips queued; the recent-clips column is told to ask at once (the clip-queued event)."""
    initial = {name: form.cleaned_data.get(name) for name in KEPT_AFTER_QUEUEING}
    initial["seed"] = request.POST.get("seed", "").strip()
    # The images the clip was made from (uploaded now or kept) stay for the next one, as stored images.
    initial["kept_image"], initial["kept_last_image"] = jobs[0].image_id, jobs[0].last_image_id
    initial = {name: ("" if value is None else value) for name, value in initial.items()}
    fresh = JobForm(grant=form.grant, initial=initial)
    response = job_form_page(request, fresh, queued=jobs)
    return trigger_client_event(response, "clip-queued", {"jobs": [str(job.pk) for job in jobs]})


def _mode_inputs(owner, form: JobForm) -> dict:
    """The form's mode inputs for submission: uploads (already judged by the form) stored privately, and
    only those the chosen mode takes, so a file left in a field another mode uses is not kept."""
    from generation.inputs import image_store

    mode = form.spec.mode_get(form.cleaned_data["mode"])
    wanted = mode.inputs if mode else ()
    inputs = {}
    for name in ("image", "last_image"):
        chosen = form.image_chosen(name) if name in wanted else None
        if isinstance(chosen, bytes):
            inputs[name] = image_store(owner=owner, data=chosen)
        elif chosen is not None:
            inputs[name] = chosen  # an image kept from a remixed clip: submission checks it is theirs
    for name in ("source", "strength"):
        if name in wanted:
            inputs[name] = form.cleaned_data.get(name)
    return inputs


def job_form_page(request, form: JobForm, *, preset=None, preset_form=None, queued=(), status: int = 200):
    """The generate page: the job form, the presets to start from, the box to save a preset, and the
    person's recent clips beside it. htmx asking for the form alone (a Render, a change of model: its
    target is #job-form) gets only the form, which is all it keeps."""
    if request.htmx and request.htmx.target == "job-form":
        context = {"form": form, "preset": preset, "preset_form": preset_form, "queued": queued}
        return render(request, "generation/_job_form.html", context, status=status)
    context = {
        "form": form,
        "presets": presets.presets_for(request.user),
        "preset": preset,
        "preset_problems": _preset_problems(preset, form.grant) if preset else [],
        "preset_form": preset_form,
        "queued": queued,
        **_recent_context(request.user),
    }
    return render(request, "generation/job_form.html", context, status=status)


def _recent_context(user) -> dict:
    jobs = composer.recent_clips(user)
    return {
        "recent": [_card_context(job) for job in jobs],
        "recent_version": composer.recent_version(jobs),
        # A running clip moves on every step; the column asks less often than the clip's own page.
        "recent_poll_seconds": settings.BACKLOT_PROGRESS_POLL_SECONDS * 5,
    }


@login_required
@require_GET
def job_recent(request):
    """The generate page's recent-clips column, asked for every few seconds: the person's own newest clips,
    or 204 (htmx keeps what it shows) when nothing in it changed since version ``v``."""
    context = _recent_context(request.user)
    if request.GET.get("v") == context["recent_version"]:
        return HttpResponse(status=204)
    return render(request, "generation/_recent_clips.html", context)


def _preset_chosen(request):
    """The preset named by ?preset=<id>, if it is one the person may use (else 404)."""
    preset_id = request.GET.get("preset")
    if not preset_id:
        return None
    if not preset_id.isdigit():
        raise Http404("No such preset.")
    return presets.preset_for(request.user, int(preset_id))


def _preset_initial(preset) -> dict:
    return {field: ("" if value is None else value) for field, value in preset.render_settings().items()}


def _preset_problems(preset, grant) -> list[str]:
    """What in ``preset`` the person's grant (or the model, if its rules changed) does not allow.
    The preset still fills the form; submitting is refused until these are changed."""
    errors = render_settings.job_validate(prompt="-", grant=grant, **preset.render_settings())
    return list(errors.values())


def _remix_initial(request) -> dict | None:
    """The settings of one of the person's own clips, to start a new one from (?remix=<id>), with a new
    random seed unless the person keeps the clip's own: an unedited remix with the same seed would render
    (and charge for) the very same clip."""
    remix = request.GET.get("remix")
    if not remix:
        return None
    try:
        job = gallery.job_for(request.user, uuid.UUID(remix))
    except ValueError:
        raise Http404("No such clip.") from None
    initial = remix_request(job)
    for name, kept in KEPT_IMAGES.items():
        if name in initial:
            initial[kept] = initial.pop(name)
    return initial | {"seed": "", "remix_seed": job.seed}


def _derive_initial(request) -> dict | None:
    """A new clip made from one of the person's finished clips (?derive=<id>&mode=extend|restyle|upscale):
    its prompt and settings, with the size and length the mode needs."""
    derive, mode = request.GET.get("derive"), request.GET.get("mode", "")
    if not derive:
        return None
    try:
        job = gallery.job_for(request.user, uuid.UUID(derive))
    except ValueError:
        raise Http404("No such clip.") from None
    initial = {"prompt": job.prompt, **RenderSettings.from_job(job).as_fields(), "mode": mode, "source": job.pk}
    initial["seed"] = ""
    if mode == "upscale":
        initial["width"], initial["height"] = job.width * 2, job.height * 2
    elif mode == "restyle":
        initial["strength"] = 0.6
    elif mode == "extend":
        initial["num_frames"] = max(job.num_frames, 17)  # longer than the 9 frames it continues from
    return initial


@login_required
@require_GET
def job_estimate(request):
    """The GPU seconds a job with these settings would reserve (times the variations asked for), against
    what the grant has left."""
    grant = current_grant(request.user)
    form = JobForm(request.GET, grant=grant)
    context = {"grant": grant}
    if grant is not None:
        left_today, left_total = quota.grant_seconds_left(grant, quota.grant_usage(grant))
        context |= {"left_today": left_today, "left_total": left_total}
        form.is_valid()
        # The cost depends only on the model, size, length and steps: no need to wait for a prompt.
        if not set(form.errors) & {"model_key", "num_frames", "width", "height", "num_steps"}:
            spec = MODELS[form.cleaned_data["model_key"]]
            each = spec.estimate_for_mode(
                form.cleaned_data.get("mode") or "text_to_video",
                num_frames=form.cleaned_data["num_frames"],
                width=form.cleaned_data["width"],
                height=form.cleaned_data["height"],
                num_steps=form.cleaned_data["num_steps"],
            )
            # Each variation is a job of its own, reserving as much as one clip.
            count = form.cleaned_data.get("variations") or 1
            estimate = each * count
            context |= {
                "each": each,
                "count": count,
                "estimate": estimate,
                "over": estimate > min(context["left_today"], context["left_total"]),
            }
        context["variations_errors"] = form.errors.get("variations")
    return render(request, "generation/_estimate.html", context)


def _status_context(job: RenderJob, request) -> dict:
    spec = MODELS.get(job.model_key)
    position = estimates.queue_position(job)
    succeeded = job.state == RenderJob.State.SUCCEEDED and job.output
    running = job.state == RenderJob.State.RUNNING and job.started_at
    finish = estimates.estimated_finish(job)
    return {
        "job": job,
        "media_url": media_url(job) if succeeded else None,
        "poster_url": media_url(job, poster=True) if succeeded and job.poster else None,
        "elapsed_seconds": (timezone.now() - job.started_at).total_seconds() if running else None,
        "estimated_finish": finish,
        "progress_percent": estimates.progress_percent(job, finish),
        "download_url": media_url(job, download=True) if succeeded and job.grant.downloads_allowed else None,
        "queue_position": position,
        "estimated_start": estimates.estimated_start(job, position),
        "model_label": spec.label if spec else job.model_key,
        "fps": spec.fps if spec else None,
        "poll_seconds": settings.BACKLOT_PROGRESS_POLL_SECONDS,
        "progress_url": progress.progress_url(request, job) if not job.is_finished else None,
        # What can be made from a finished clip, and what was: shown on its page and brought by the poll.
        "derive_modes": [
            {"key": mode.key, "action": DERIVE_ACTIONS[mode.key]}
            for mode in (spec.modes if spec and succeeded else ())
            if mode.key in DERIVE_ACTIONS
        ],
        "derived": list(job.derived.filter(deleted_at__isnull=True).order_by("queued_at")) if job.is_finished else [],
    }


@login_required
@require_GET
def job_detail(request, job_id):
    job = gallery.job_for(request.user, job_id)
    return render(request, "generation/job_detail.html", _status_context(job, request))


DERIVE_ACTIONS = {"extend": "Extend", "restyle": "Restyle", "upscale": "Upscale"}


@login_required
@require_GET
def job_status(request, job_id):
    job = gallery.job_for(request.user, job_id)
    return render(request, "generation/_job_status_poll.html", _status_context(job, request))


@login_required
@require_POST
def job_cancel(request, job_id):
    job = gallery.job_for(request.user, job_id)
    job_actions.job_cancel(job=job)
    return redirect(job)


@login_required
@require_http_methods(["GET", "POST"])
def job_delete(request, job_id):
    """Asks first (GET), then deletes (POST): the files go, the row stays for quota and tracing."""
    job = gallery.job_for(request.user, job_id)
    if request.method == "POST":
        job_actions.job_delete(job=job)
        messages.success(request, f"Clip {job.short_id} deleted.")
        return redirect("generation:job_list")
    return render(request, "generation/job_delete.html", {"job": job})


@require_GET
def job_video(request, job_id):
    """A stable address for a clip that sends its owner on to a fresh signed link."""
    # A media address answers 403, not a sign-in page: it is fetched by <video> and download tools.
    if not request.user.is_authenticated:
        raise PermissionDenied("Sign in to watch this clip.")
    job = gallery.job_for(request.user, job_id)
    if job.state != RenderJob.State.SUCCEEDED or not job.output:
        raise Http404("This clip has no video.")
    return redirect(media_url(job, download="download" in request.GET))


@require_GET
def media(request, token):
    """Serve a clip through a signed link, checking its owner's access on every request."""
    try:
        job, kind = media_resolve(token)
    except MediaRefused as refused:
        raise PermissionDenied(str(refused)) from None
    if request.user.is_authenticated and request.user.pk != job.owner_id:
        raise Http404
    try:
        stored = (job.poster if kind == POSTER else job.output).open("rb")
    except FileNotFoundError:  # deleted between the check and the read
        raise Http404("This clip is no longer available.") from None
    if kind == POSTER:
        return file_response(request, stored, size=stored.size, content_type="image/jpeg")
    return file_response(
        request,
        stored,
        size=stored.size,
        content_type="video/mp4",
        as_attachment=kind == DOWNLOAD,
        filename=f"backlot-{job.short_id}.mp4",
    )
