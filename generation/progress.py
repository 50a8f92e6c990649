"""Progress that costs almost nothing: the clip page's poll while a job waits or runs.

The page (a full request: every middleware, every access check) hands out a watch ticket, a signed
(job, person, session auth hash) triple, in the poll's address. The poll itself runs on a lean path
(config/lean.py: no session, auth, leak-watch or terms middleware) and answers from one indexed read that
checks what those would have: the job is the person's and not deleted, the person is active, the browser
still holds the session the ticket was issued to and that session has not expired, and the person's
session auth hash is unchanged. Every suspension (revoke, suspend, pause) ends the sessions of the people
it covers by moving that hash (access.suspensions.sessions_end_all), so a revoked watcher is refused on
the next poll. Once the job is finished the poll hands over to the full status fragment, which brings the
clip and its actions.
"""

from __future__ import annotations

import hashlib
import time
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import signing
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.html import escape

from core.hot_reads import instance_from, one_row
from generation import estimates
from generation.models import RenderJob

TICKET_SALT = "generation.progress-ticket"
TICKET_MAX_AGE = 24 * 3600  # a reload of the page hands out a fresh one
STOP_POLLING = 286  # htmx stops an element's polling on this status
FIELDS = (
    "id",
    "owner_id",
    "model_key",
    "state",
    "held",
    "stage",
    "progress_step",
    "progress_total",
    "charged_seconds",
    "started_at",
    "denoised_at",
    "queued_at",
    "priority",
)


def _digest(secret: str) -> str:
    # The ticket travels in a URL (server logs): it carries digests, never the session key or auth hash.
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def ticket_for(request, job: RenderJob) -> str:
    """The watch ticket for ``job`` in this signed-in request's session."""
    user = request.user
    return signing.dumps(
        [job.pk.hex, user.pk, _digest(request.session.session_key or ""), _digest(user.get_session_auth_hash())],
        salt=TICKET_SALT,
        compress=False,
    )


def progress_url(request, job: RenderJob) -> str:
    return reverse("generation:job_progress", args=[job.pk]) + "?t=" + ticket_for(request, job)


class Refused(Exception):
    pass


def job_watched(job_id, ticket: str, session_key: str) -> RenderJob:
    """The job a ticket lets this browser watch, read in one query; raises Refused when it may not."""
    try:
        job_hex, user_id, session_digest, auth_digest = ticket_open(ticket)
    except (signing.BadSignature, ValueError, TypeError):
        raise Refused("This progress link is not valid; reload the clip's page.") from None
    if job_hex != job_id.hex or not session_key or not constant_time_compare(session_digest, _digest(session_key)):
        raise Refused("This progress link belongs to another clip or session; reload the clip's page.")
    params = (
        RenderJob._meta.pk.get_db_prep_value(job_id, connection),
        user_id,
        session_key,
        connection.ops.adapt_datetimefield_value(timezone.now()),
    )
    row = one_row(_watch_sql(connection.vendor), params)
    if row is None or not constant_time_compare(auth_digest, _digest(_auth_hash(*row[len(FIELDS) :]))):
        raise Refused("You are signed out, or your access has changed; reload the page.")
    return instance_from(RenderJob, FIELDS, row[: len(FIELDS)])


def ticket_open(ticket: str) -> tuple:
    """The (job, person, session digest, auth hash digest) a ticket carries; raises signing.BadSignature (or
    SignatureExpired) as signing.loads does."""
    fields, issued = _ticket_verified(ticket)
    if time.time() - issued > TICKET_MAX_AGE:
        raise signing.SignatureExpired("This progress link has expired.")
    return fields


@lru_cache(maxsize=4096)
def _ticket_verified(ticket: str) -> tuple[tuple, int]:
    # Each watcher sends the same ticket every second: its signature is checked once per process. Safe to
    # keep, as a ticket's content never changes and grants nothing alone: every poll still reads the session,
    # the person and their auth hash, and the age is checked on every poll.
    fields = signing.loads(ticket, salt=TICKET_SALT)
    return tuple(fields), signing.b62_decode(ticket.rsplit(":", 2)[1])


@cache
def _watch_sql(vendor: str) -> str:
    """The job, its owner's session auth hash inputs, and whether the browser's session is live: one indexed
    read, written out once (building it with the ORM cost more than the rest of the poll)."""
    user = RenderJob._meta.get_field("owner").related_model._meta
    columns = ", ".join(f'j."{RenderJob._meta.get_field(name).column}"' for name in FIELDS)
    # Only the models' own table and column names are written in; every value is a parameter.
    job_table, user_table, session_table = RenderJob._meta.db_table, user.db_table, Session._meta.db_table
    return (
        f'SELECT {columns}, u."password", u."session_epoch" '  # noqa: S608
        f'FROM "{job_table}" j JOIN "{user_table}" u ON u."id" = j."owner_id" '
        'WHERE j."id" = %s AND j."owner_id" = %s AND j."deleted_at" IS NULL AND u."is_active" '
        f'AND EXISTS (SELECT 1 FROM "{session_table}" s WHERE s."session_key" = %s AND s."expire_date" > %s)'
    )


def _auth_hash(password: str, epoch: int) -> str:
    # What access.models.User.get_session_auth_hash computes, from the row already read.
    return salted_hmac("access.User.get_session_auth_hash", f"{password}:{epoch}", algorithm="sha256").hexdigest()


def job_progress(request, job_id):
    """The poll's answer: the status fragment of a waiting or running job, or, once it is finished, a
    fragment that fetches the full one (with the clip, its times and its actions) at once."""
    try:
        job = job_watched(job_id, request.GET.get("t", ""), request.COOKIES.get(settings.SESSION_COOKIE_NAME, ""))
    except Refused as refused:
        # To the page's poll: htmx's "stop polling" status, with the reason where the progress bar was.
        status = STOP_POLLING if request.headers.get("HX-Request") else 403
        return _sized(f'<div id="job-status" class="job-status"><p class="error">{refused}</p></div>', status=status)
    if job.state in RenderJob.FINISHED_STATES:
        status_url = reverse("generation:job_status", args=[job.pk])
        return _sized(f'<div id="job-status" hx-get="{status_url}" hx-trigger="load" hx-swap="outerHTML"></div>')
    return _sized(status_fragment(job, request.get_full_path()))


def status_fragment(job: RenderJob, progress_url: str) -> str:
    """What templates/generation/_job_status.html shows for a waiting or running job, written out in Python:
    rendering the template was the largest part of the poll's cost. A test holds the two to the same text."""
    finish = estimates.estimated_finish(job)
    position = estimates.queue_position_cached(job)
    running = held = waiting = ""
    if job.state == RenderJob.State.RUNNING:
        if job.denoised_at:
            where = f"{escape(job.get_stage_display())}…"
        else:
            where = f"step {job.progress_step} of {job.progress_total}"
        elapsed = (timezone.now() - job.started_at).total_seconds() if job.started_at else None
        running = (
            f' — <span class="stage" data-stage="{escape(job.stage)}">{where}</span>,\n'
            f'      <span class="elapsed">{_whole(elapsed)} s elapsed</span>'
        )
        if finish:
            running += f', <span class="estimated-finish">expected to finish around {_clock(finish)}</span>'
    if job.held:
        held = (
            ' — <span class="held">held by the programme\'s staff; it keeps its place and starts once released</span>'
        )
    if position:
        start = estimates.estimated_start(job, position)
        waiting = (
            f' — <span class="queue-position">number {position} in the queue</span>, '
            f"expected to start around {_clock(start)}"
        )
    percent = estimates.progress_percent(job, finish)
    return (
        f'<div id="job-status" class="job-status state-{escape(job.state)}"\n'
        f'  hx-get="{escape(progress_url)}" hx-trigger="every {settings.BACKLOT_PROGRESS_POLL_SECONDS}s" '
        'hx-swap="outerHTML">\n'
        f'  <p>State: <strong class="state" data-state="{escape(job.state)}">{escape(job.get_state_display())}</strong>'
        f"\n    {running}\n    {held}\n    {waiting}</p>\n"
        f'    <progress id="job-progress" max="100" value="{percent}">{percent}%</progress>\n</div>'
    )


def _whole(seconds: float | None) -> str:
    # The template's floatformat:0 (half away from zero; nothing for None).
    if seconds is None:
        return ""
    return str(int(Decimal(repr(seconds)).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def _clock(moment) -> str:
    # The template's time:"H:i:s", in the current time zone.
    return timezone.localtime(moment).strftime("%H:%M:%S") if moment else ""


def _sized(content: str, status: int = 200) -> HttpResponse:
    # The lean path has no CommonMiddleware to add the length; without it the server would chunk the reply.
    response = HttpResponse(content, status=status)
    response["Content-Length"] = str(len(response.content))
    return response


# --- The API's progress -------------------------------------------------------------------------


def api_job_progress(request, job_id):
    """GET /api/v1/jobs/<id>/progress/ with a token that has the read scope: where a job is, for scripts that
    poll. The token is checked as the API checks it (active, its owner active and not suspended), without
    DRF, leak watch or last-use bookkeeping, which the job's other endpoints keep; each poll counts against the
    token's API rate like any request."""
    from access.api_auth import TokenRateThrottle
    from access.standing import standing
    from access.tokens import token_lookup_hot

    header = request.headers.get("Authorization", "").split()
    if len(header) != 2 or header[0] != "Bearer":
        return _refusal("Send a token with the read scope as: Authorization: Bearer <token>.", "not_authenticated", 401)
    record = token_lookup_hot(header[1])
    if record is None or record.state != "active":
        state = record.state if record else "not valid"
        return _refusal(f"This API token is {state}.", "authentication_failed", 401)
    decision = standing(record.user).site
    if not decision:
        return _refusal(decision.reason, "access_suspended", 403)
    if "read" not in record.scopes:
        return _refusal("This API token does not have the scope this request needs.", "permission_denied", 403)
    request.auth, throttle = record, TokenRateThrottle()
    if not throttle.allow_request(request, None):
        wait = max(1, round(throttle.wait() or 1))
        response = _refusal(f"Request was throttled. Expected available in {wait} seconds.", "throttled", 429)
        response["Retry-After"] = str(wait)
        return response
    params = (RenderJob._meta.pk.get_db_prep_value(job_id, connection), record.user_id)
    row = one_row(_job_sql(connection.vendor), params)
    if row is None:
        return _refusal("No such job.", "not_found", 404)
    job = instance_from(RenderJob, FIELDS, row)
    position = estimates.queue_position_cached(job)
    fields = estimates.progress_fields(
        job, finish=estimates.estimated_finish(job), position=position, start=estimates.estimated_start(job, position)
    )
    return JsonResponse(
        {
            "id": str(job.pk),
            "state": job.state,
            "stage": job.stage,
            "held": job.held,
            "progress_step": job.progress_step,
            "progress_total": job.progress_total,
            **fields,
        }
    )


def _refusal(detail: str, code: str, status: int) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


@cache
def _job_sql(vendor: str) -> str:
    columns = ", ".join(f'"{RenderJob._meta.get_field(name).column}"' for name in FIELDS)
    return (
        f'SELECT {columns} FROM "{RenderJob._meta.db_table}" '  # noqa: S608 (names from the model; values are parameters)
        'WHERE "id" = %s AND "owner_id" = %s AND "deleted_at" IS NULL'
    )


def schema_progress_path(result, generator, request, public):
    """drf-spectacular postprocessing hook: the API's progress endpoint is a plain Django view (it skips DRF to
    stay cheap), so its place in the schema is written here."""
    nullable_time = {"type": "string", "format": "date-time", "nullable": True}
    result.setdefault("paths", {})["/api/v1/jobs/{id}/progress/"] = {
        "get": {
            "operationId": "jobs_progress_retrieve",
            "summary": "Where a job is: state, stage, steps and expected times, at almost no cost to poll.",
            "tags": ["jobs"],
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
            ],
            "security": [{"ApiToken": []}],
            "responses": {
                "200": {
                    "description": "The job's progress.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string", "format": "uuid"},
                                    "state": {"type": "string", "enum": list(RenderJob.State.values)},
                                    "stage": {"type": "string", "enum": ["", *RenderJob.Stage.values]},
                                    "held": {"type": "boolean"},
                                    "progress_step": {"type": "integer"},
                                    "progress_total": {"type": "integer"},
                                    "progress_percent": {"type": "integer"},
                                    "queue_position": {"type": "integer", "nullable": True},
                                    "estimated_start_at": nullable_time,
                                    "elapsed_seconds": {"type": "number", "nullable": True},
                                    "estimated_finish_at": nullable_time,
                                },
                            }
                        }
                    },
                },
                "401": {"description": "No token, or a token that is not active."},
                "429": {"description": "Too many requests with this token (API_RATE_PER_TOKEN)."},
                "403": {"description": "The token lacks the read scope, or its owner's access is withdrawn."},
                "404": {"description": "No such job among the token owner's."},
            },
        }
    }
    return result
