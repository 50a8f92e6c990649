"""Calls for films and their rubrics: creating, changing (with a notice to everyone who may enter) and
announcing a call; its criteria (changes are audited); and who may see and enter a call."""

from __future__ import annotations

import math
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from access.audit import audit
from access.models import TESTER_ROLES, Cohort, Membership
from access.policy import Decision, is_programme_admin, may_use_site
from competition.models import (
    Call,
    CallNotice,
    Criterion,
    Submission,
)
from feedback.notify import notify

CALL_FIELDS = (
    "title",
    "brief",
    "rules",
    "eligible_roles",
    "submissions_open_at",
    "submissions_close_at",
    "judging_ends_at",
    "results_at",
    "prizes",
    "winners_count",
    "reviewers_per_entry",
    "watch_share",
    "exclude_same_cohort",
    "appeal_days",
    "max_duration_seconds",
    "max_megabytes",
)


def _check_call(fields: dict) -> None:
    errors = {}
    for name in ("title", "brief", "rules"):
        if not str(fields.get(name, "")).strip():
            errors[name] = "This is required: eligible testers read it before they enter."
    moments = [
        fields.get(name) for name in ("submissions_open_at", "submissions_close_at", "judging_ends_at", "results_at")
    ]
    if not all(isinstance(moment, datetime) for moment in moments):
        errors["submissions_open_at"] = "Give all four dates."
    elif not moments[0] < moments[1] <= moments[2] <= moments[3]:
        errors["submissions_close_at"] = (
            "Dates must run in order: submissions open, then close, then judging ends, then results."
        )
    roles = fields.get("eligible_roles") or []
    if not roles or set(roles) - {str(role) for role in TESTER_ROLES}:
        errors["eligible_roles"] = f"Choose one or more of: {', '.join(str(r) for r in TESTER_ROLES)}."
    if not 1 <= int(fields.get("reviewers_per_entry") or 0) <= 20:
        errors["reviewers_per_entry"] = "Assign between 1 and 20 reviewers to each entry."
    if not 0 < float(fields.get("watch_share") or 0) <= 1:
        errors["watch_share"] = "The share of a film to watch runs from more than 0 up to 1 (100 %)."
    if int(fields.get("winners_count") or 0) < 1:
        errors["winners_count"] = "A call has at least one winner."
    if int(fields.get("max_duration_seconds") or 0) < 1 or int(fields.get("max_megabytes") or 0) < 1:
        errors["max_duration_seconds"] = "Give positive limits for a film's length and size."
    if errors:
        raise ValidationError(errors)


def _check_cohorts(programme, cohorts) -> list[Cohort]:
    cohorts = list(cohorts or [])
    if any(cohort.programme_id != programme.pk for cohort in cohorts):
        raise ValidationError({"eligible_cohorts": "Choose cohorts of this programme."})
    return cohorts


@transaction.atomic
def call_create(*, programme, actor, cohorts=(), ip=None, **fields) -> Call:
    fields.setdefault("eligible_roles", [str(role) for role in TESTER_ROLES])
    fields = {name: value for name, value in fields.items() if name in CALL_FIELDS}
    for name in CALL_FIELDS:  # the model's defaults, for the checks
        fields.setdefault(name, Call._meta.get_field(name).get_default())
    _check_call(fields)
    cohorts = _check_cohorts(programme, cohorts)
    call = Call.objects.create(programme=programme, created_by=actor, **fields)
    call.eligible_cohorts.set(cohorts)
    audit("competition.call_created", actor=actor, programme=programme, target=call, ip=ip, title=call.title)
    return call


def _notice(call: Call, *, text: str, changes: dict, actor) -> CallNotice:
    if not text.strip():
        raise ValidationError(
            {"notice": "Submissions are open: say what changes and why. Every entrant is sent this notice."}
        )
    notice = CallNotice.objects.create(call=call, text=text.strip(), changes=changes, created_by=actor)
    for submission in call.submissions.select_related("entrant"):
        notify(submission.entrant, f"The call “{call.title}” changed: {notice.text}", call.get_absolute_url())
    return notice


def _notice_if_locked(call: Call, *, text: str, changes: dict, actor) -> CallNotice | None:
    """Once the rubric is locked every change needs a notice to the entrants; before that none is sent."""
    return _notice(call, text=text, changes=changes, actor=actor) if call.rubric_locked() else None


def _audit_change(action: str, *, call: Call, actor, ip, notice: CallNotice | None, changes: dict) -> None:
    audit(
        action,
        actor=actor,
        programme=call.programme,
        target=call,
        ip=ip,
        reason=notice.text if notice else "",
        changes=changes,
    )


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return sorted(str(item) for item in value)
    return value


@transaction.atomic
def call_update(*, call: Call, actor, notice: str = "", cohorts=None, ip=None, **fields) -> Call:
    """Change a call. Once submissions have opened, any change needs a ``notice`` sent to every entrant."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.published:
        raise ValidationError("Results are published: the call can no longer change.")
    fields = {name: value for name, value in fields.items() if name in CALL_FIELDS}
    merged = {name: getattr(call, name) for name in CALL_FIELDS} | fields
    _check_call(merged)
    changes = {
        name: [_jsonable(getattr(call, name)), _jsonable(value)]
        for name, value in fields.items()
        if _jsonable(getattr(call, name)) != _jsonable(value)
    }
    if cohorts is not None:
        cohorts = _check_cohorts(call.programme, cohorts)
        before = {cohort.name for cohort in call.eligible_cohorts.all()}
        if before != {cohort.name for cohort in cohorts}:
            changes["eligible_cohorts"] = [sorted(before), sorted(cohort.name for cohort in cohorts)]
    if not changes:
        return call
    recorded = _notice_if_locked(call, text=notice, changes=changes, actor=actor)
    for name, value in fields.items():
        setattr(call, name, value)
    call.save()
    if cohorts is not None:
        call.eligible_cohorts.set(cohorts)
    _audit_change("competition.call_changed", call=call, actor=actor, ip=ip, notice=recorded, changes=changes)
    return call


@transaction.atomic
def call_announce(*, call: Call, actor, ip=None) -> Call:
    if not call.criteria.exists():
        raise ValidationError("Add the rubric's criteria before announcing the call: testers read it before entering.")
    if call.announced_at is None:
        call.announced_at = timezone.now()
        call.save(update_fields=["announced_at"])
        audit("competition.call_announced", actor=actor, programme=call.programme, target=call, ip=ip)
    return call


def _check_criterion(*, name: str, weight, scale_max, levels) -> tuple[float, int, list[str]]:
    errors = {}
    if not name.strip():
        errors["name"] = "Name the criterion."
    try:
        weight = float(weight)
        if not math.isfinite(weight) or weight <= 0:
            raise ValueError
    except (TypeError, ValueError):
        errors["weight"] = "The weight is a number above 0, e.g. 2 or 0.5."
    try:
        scale_max = int(scale_max)
        if not 2 <= scale_max <= 10:
            raise ValueError
    except (TypeError, ValueError):
        errors["scale_max"] = "The scale runs from 1 to between 2 and 10."
    levels = [str(level).strip() for level in levels or []]
    if not errors and (len(levels) != scale_max or not all(levels)):
        errors["levels"] = f"Describe each of the {scale_max} levels, one per line, from 1 up."
    if errors:
        raise ValidationError(errors)
    return weight, scale_max, levels


@transaction.atomic
def criterion_save(
    *,
    call: Call,
    actor,
    name: str,
    weight,
    scale_max,
    levels,
    description: str = "",
    criterion=None,
    notice: str = "",
    ip=None,
) -> Criterion:
    """Add a rubric criterion, or change ``criterion``; after submissions open only with a notice."""
    if call.published:
        raise ValidationError("Results are published: the rubric can no longer change.")
    weight, scale_max, levels = _check_criterion(name=name, weight=weight, scale_max=scale_max, levels=levels)
    if criterion is not None and criterion.call_id != call.pk:
        raise ValidationError("That criterion belongs to another call.")
    if criterion is not None and criterion.scores.filter(value__gt=scale_max).exists():
        raise ValidationError({"scale_max": "Reviewers have already given scores above this scale."})
    if call.criteria.filter(name=name.strip()).exclude(pk=getattr(criterion, "pk", None)).exists():
        raise ValidationError({"name": "The rubric already has a criterion with this name."})
    values = {
        "name": name.strip(),
        "description": description.strip(),
        "weight": weight,
        "scale_max": scale_max,
        "levels": levels,
    }
    if criterion is None:
        values["position"] = call.criteria.count()
        changes = {"criterion_added": values["name"]}
    else:
        changes = {
            f"{criterion.name}.{key}": [getattr(criterion, key), value]
            for key, value in values.items()
            if getattr(criterion, key) != value
        }
        if not changes:
            return criterion
    recorded = _notice_if_locked(call, text=notice, changes=changes, actor=actor)
    if criterion is None:
        criterion = Criterion.objects.create(call=call, **values)
    else:
        for key, value in values.items():
            setattr(criterion, key, value)
        criterion.save()
    _audit_change("competition.rubric_changed", call=call, actor=actor, ip=ip, notice=recorded, changes=changes)
    return criterion


@transaction.atomic
def criterion_remove(*, criterion: Criterion, actor, notice: str = "", ip=None) -> None:
    call = criterion.call
    if criterion.scores.exists():
        raise ValidationError("Reviewers have scored this criterion; it can no longer be removed.")
    changes = {"criterion_removed": criterion.name}
    recorded = _notice_if_locked(call, text=notice, changes=changes, actor=actor)
    criterion.delete()
    _audit_change("competition.rubric_changed", call=call, actor=actor, ip=ip, notice=recorded, changes=changes)


def may_enter(user, call: Call) -> Decision:
    """May ``user`` enter ``call``: a member of its programme in an eligible role and cohort, with access."""
    decision = may_use_site(user)
    if not decision:
        return decision
    memberships = Membership.objects.filter(user=user, programme=call.programme, role__in=call.eligible_roles)
    cohorts = list(call.eligible_cohorts.all())
    if cohorts:
        memberships = memberships.filter(cohort__in=cohorts)
    if not memberships.exists():
        return Decision(False, "This call is not open to your role or cohort.")
    return Decision(True)


def may_see_call(user, call: Call) -> bool:
    """Admins see every call of their programme; eligible testers and entrants see announced ones."""
    if is_programme_admin(user, call.programme):
        return True
    if not call.announced_at:
        return False
    return bool(may_enter(user, call)) or Submission.objects.filter(call=call, entrant=user).exists()


def calls_for(user) -> list[Call]:
    calls = Call.objects.filter(programme__memberships__user=user).distinct().select_related("programme")
    return [call for call in calls.prefetch_related("eligible_cohorts") if may_see_call(user, call)]
