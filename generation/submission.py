"""Submitting render jobs: the one path from the generate page and the API to queued jobs. jobs_submit
takes a person's settings and queues one job, or several variations, under every rule: the submission rate
limit, the grant's access, settings and quota, the prompt policy, idempotency, and the burst check."""

from __future__ import annotations

import logging
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from access import leaks
from access.models import Grant
from access.policy import current_grant, may_render
from access.terms import terms_accepted_current
from core.ratelimits import rate_consume, rate_refund
from generation.inputs import mode_inputs_check
from generation.models import PromptRefusal, RenderJob
from generation.prompt_policy import prompt_screen
from generation.queue import job_announce
from generation.quota import QuotaExceeded, charge_reserve, variations_room_check
from generation.registry import TEXT_TO_VIDEO, UPSCALE, model_get
from generation.render_settings import SEED_MAX, job_validate

log = logging.getLogger(__name__)

VARIATION_COUNTS = (1, 2, 4)
IDEMPOTENCY_KEY_MAX_LENGTH = 80


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a job with other settings."""


def jobs_submit(
    *,
    owner,
    count: int = 1,
    idempotency_key: str = "",
    credential: dict | None = None,
    via: str = PromptRefusal.Via.WEB,
    **settings,
) -> list[RenderJob]:
    """Queue ``count`` variations of one prompt for ``owner`` (see jobs_create_variations), counting them
    against the person's submission rate limit, and then check the person's recent submissions for a
    burst that suggests a leaked credential (``credential``: as leaks.request_credential gives it).
    Raises RateLimited, PermissionDenied, ValidationError, QuotaExceeded or IdempotencyConflict, and then
    queues nothing and counts nothing. A replayed ``idempotency_key`` returns the earlier job, uncounted."""
    if len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationError(
            {"idempotency_key": f"Idempotency keys are at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."}
        )
    if idempotency_key and count != 1:
        raise ValidationError({"idempotency_key": "An idempotency key names one job: send it with one variation."})
    rate_consume(scope="submissions", key=owner.pk, cost=count)
    try:
        if count == 1:
            jobs = [job_create(owner=owner, idempotency_key=idempotency_key, via=via, **settings)]
        else:
            jobs = jobs_create_variations(owner=owner, count=count, via=via, **settings)
    except (ValidationError, QuotaExceeded, IdempotencyConflict):
        rate_refund(scope="submissions", key=owner.pk, cost=count)  # only jobs really queued count
        raise
    if jobs[0].replayed:
        rate_refund(scope="submissions", key=owner.pk, cost=count)
        return jobs
    if credential:
        leaks.burst_check(user=owner, **credential)
    return jobs


def job_create(
    *,
    owner,
    prompt: str,
    model_key: str,
    num_frames: int,
    width: int,
    height: int,
    num_steps: int,
    guidance_scale: float,
    negative_prompt: str = "",
    seed: int | None = None,
    idempotency_key: str = "",
    via: str = PromptRefusal.Via.WEB,
    mode: str = TEXT_TO_VIDEO,
    image=None,
    last_image=None,
    source=None,
    strength: float | None = None,
) -> RenderJob:
    """Queue a render for ``owner`` against their grant, reserving its estimated GPU seconds.
    Raises PermissionDenied, ValidationError or QuotaExceeded, and then creates nothing; a prompt
    the programme's prompt policy refuses is recorded (see prompt_policy.prompt_screen). With an
    ``idempotency_key`` already used by ``owner``, returns that job instead of queueing another
    (``job.replayed`` is then True), or raises IdempotencyConflict if the settings differ. ``mode`` and
    its inputs (an uploaded image or two, a source clip, a strength) are checked by
    inputs.mode_inputs_check."""
    decision = may_render(owner)
    if not decision:
        raise PermissionDenied(decision.reason)
    fields = {
        "prompt": prompt.strip(),
        "negative_prompt": negative_prompt.strip(),
        "model_key": model_key,
        "num_frames": num_frames,
        "width": width,
        "height": height,
        "num_steps": num_steps,
        "guidance_scale": guidance_scale,
        "seed": seed,
    }
    grant = current_grant(owner)
    errors = job_validate(**fields, grant=grant)
    if errors:
        raise ValidationError(errors)
    spec = model_get(model_key)
    fields.update(
        mode=mode,
        **mode_inputs_check(
            owner=owner,
            spec=spec,
            mode=mode,
            settings=fields,
            image=image,
            last_image=last_image,
            source=source,
            strength=strength,
        ),
    )
    if fields["seed"] is None:
        fields["seed"] = secrets.randbelow(SEED_MAX + 1)
    estimate = spec.estimate_for_mode(mode, num_frames=num_frames, width=width, height=height, num_steps=num_steps)
    leaks.text_scan(f"{fields['prompt']}\n{fields['negative_prompt']}", where="a render prompt", submitted_by=owner)
    prompt_screen(
        user=owner,
        programme=grant.programme,
        prompt=fields["prompt"],
        negative_prompt=fields["negative_prompt"],
        model_key=model_key,
        via=via,
    )
    with transaction.atomic():
        # The row lock serialises submissions against one grant, so concurrent requests cannot
        # together reserve more than its quota (on SQLite the IMMEDIATE transaction does the same).
        grant = Grant.objects.select_for_update().get(pk=grant.pk)
        if idempotency_key:
            earlier = RenderJob.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
            if earlier is not None:
                return _replay(earlier, {**fields, "seed": seed})  # a random seed was not asked for
        job = charge_reserve(
            grant=grant,
            estimate=estimate,
            owner=owner,
            progress_total=1 if mode == UPSCALE else num_steps,
            terms=terms_accepted_current(owner, grant.programme) or None,
            idempotency_key=idempotency_key,
            **fields,
        )
        transaction.on_commit(lambda: job_announce(job.pk, job.model_key))
    log.info("generation.job_queued job=%s owner=%s model=%s reserved=%.1f", job.pk, owner.pk, model_key, estimate)
    return job


def jobs_create_variations(
    *, owner, count: int, seed: int | None = None, via: str = PromptRefusal.Via.WEB, **settings
) -> list[RenderJob]:
    """``count`` clips of one prompt with consecutive seeds, each a job charged on its own. All are
    queued or none: a grant without room for every one of them refuses the lot."""
    if count not in VARIATION_COUNTS:
        raise ValidationError({"variations": "Make 1, 2 or 4 variations."})
    decision = may_render(owner)
    if not decision:
        raise PermissionDenied(decision.reason)
    # Scanned and screened before the transaction, so that what they record is kept when it rolls back.
    prompt, negative_prompt = settings.get("prompt", "").strip(), settings.get("negative_prompt", "").strip()
    leaks.text_scan(f"{prompt}\n{negative_prompt}", where="a render prompt", submitted_by=owner)
    prompt_screen(
        user=owner,
        programme=current_grant(owner).programme,
        prompt=prompt,
        negative_prompt=negative_prompt,
        model_key=settings.get("model_key", ""),
        via=via,
    )
    base = secrets.randbelow(SEED_MAX + 1) if seed is None else seed
    with transaction.atomic():
        # Locked as job_create locks it, so that the count is checked against the jobs really waiting.
        variations_room_check(Grant.objects.select_for_update().get(pk=current_grant(owner).pk), count=count)
        return [
            job_create(owner=owner, seed=(base + index) % (SEED_MAX + 1), via=via, **settings) for index in range(count)
        ]


def _replay(job: RenderJob, fields: dict) -> RenderJob:
    differing = [
        name for name, value in fields.items() if (name != "seed" or value is not None) and getattr(job, name) != value
    ]
    if differing:
        raise IdempotencyConflict(
            f"This idempotency key was already used for job {job.pk} with a different {', '.join(differing)}."
        )
    job.replayed = True
    return job
