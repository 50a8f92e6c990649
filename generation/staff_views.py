"""The staff queue page (/staff/queue/): every model's waiting jobs in the order workers will take
them, the held and running ones, and each worker's state and health (with a reset for an unhealthy one).
For the operator's staff only (access.policy.may_manage_queue); everyone else gets 404. Every action is
audited by its service."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from access.audit import client_ip
from access.policy import may_manage_queue
from generation import estimates, health, job_actions, workers
from generation.forms import QueueActionForm
from generation.models import RenderJob, Worker
from generation.queue import queue_board_cached, workers_per_model


def queue_staff_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not may_manage_queue(request.user):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _queue_context() -> dict:
    now = timezone.now()
    worker_rows = [
        {"worker": worker, "status": workers.worker_status(worker, now=now), "seen": workers.worker_last_sign(worker)}
        for worker in workers.workers_all()
    ]
    capacity = workers_per_model((row["worker"], row["status"]) for row in worker_rows)
    board, recent = queue_board_cached(capacity)
    finishes = estimates.estimated_finishes([job for model in board for job in model["running"]])
    for model in board:
        model["workers"] = capacity.get(model["model_key"], {"taking": 0, "busy": 0, "out": 0})
        model["per_worker"] = (
            model["waiting_count"] / model["workers"]["taking"] if model["workers"]["taking"] else None
        )
        model["running"] = [
            {
                "job": job,
                "elapsed": (now - job.started_at).total_seconds() if job.started_at else None,
                "finish": finishes.get(job.pk),
            }
            for job in model["running"]
        ]
    return {"board": board, "workers": worker_rows, "recent": recent, **QUEUE_ACTIONS}


QUEUE_ACTIONS = {
    "running_actions": [("cancel", "Cancel")],
    "waiting_actions": [("raise", "Raise"), ("lower", "Lower"), ("hold", "Hold"), ("cancel", "Cancel")],
    "held_actions": [("release", "Release"), ("cancel", "Cancel")],
}


@queue_staff_required
@require_GET
def queue(request):
    return render(request, "generation/queue.html", _queue_context())


@queue_staff_required
@require_POST
def worker_health_reset(request, worker_id):
    """Clear a worker's unhealthy mark: it takes jobs again from its next heartbeat (and marks itself again
    if what was wrong still is)."""
    worker = get_object_or_404(Worker, pk=worker_id)
    if health.worker_health_reset(worker=worker, actor=request.user, ip=client_ip(request)):
        messages.success(request, f"{worker.hostname} is marked healthy again; it takes jobs from its next heartbeat.")
    else:
        messages.warning(request, f"{worker.hostname} was not unhealthy; nothing was changed.")
    return redirect("generation_staff:queue")


@queue_staff_required
@require_POST
def queue_job_action(request, job_id):
    job = get_object_or_404(RenderJob.objects.select_related("owner"), pk=job_id)
    form = QueueActionForm(request.POST)
    if not form.is_valid():
        return render(request, "generation/queue.html", {**_queue_context(), "action_form": form}, status=400)
    action, ip = form.cleaned_data["action"], client_ip(request)
    try:
        if action in ("raise", "lower"):
            job_actions.job_set_priority(
                job=job, priority=job.priority + (1 if action == "raise" else -1), actor=request.user, ip=ip
            )
            done = True
        elif action == "hold":
            done = job_actions.job_hold(job=job, actor=request.user, ip=ip)
        elif action == "release":
            done = job_actions.job_release(job=job, actor=request.user, ip=ip)
        else:
            done = job_actions.job_staff_cancel(job=job, actor=request.user, ip=ip)
    except ValidationError as error:
        form.add_error(None, error.messages)
        return render(request, "generation/queue.html", {**_queue_context(), "action_form": form}, status=400)
    if done:
        messages.success(request, f"Job {job.short_id}: {form.DONE[action]}.")
    else:
        messages.warning(request, f"Job {job.short_id} is {job.get_state_display().lower()} now; nothing was changed.")
    return redirect("generation_staff:queue")
