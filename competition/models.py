"""The film competition: calls with a published rubric, entries with the clips they use (found by their
marks), blind reviews by rubric with proof of watching, published results and appeals."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from access.models import TESTER_ROLES


def _default_roles() -> list[str]:
    return [str(role) for role in TESTER_ROLES]


def film_path(submission, filename: str) -> str:
    # A random name: neither the entrant's file name nor their id ends up in a path or a URL.
    return f"competition/{submission.call_id}/{uuid.uuid4().hex}.mp4"


def blind_path(submission, filename: str) -> str:
    return f"competition/{submission.call_id}/blind/{uuid.uuid4().hex}.mp4"


class Call(models.Model):
    """A call for films in a programme. The rules and the rubric are fixed once submissions open: a
    later change needs a notice, which every entrant is sent and which stays on the call's page."""

    programme = models.ForeignKey("access.Programme", on_delete=models.CASCADE, related_name="calls")
    title = models.CharField(max_length=160)
    brief = models.TextField(help_text="What films the call asks for.")
    rules = models.TextField(help_text="What entries must respect; public to eligible testers.")
    eligible_roles = models.JSONField(default=_default_roles, help_text="Roles whose members may enter.")
    eligible_cohorts = models.ManyToManyField(
        "access.Cohort", blank=True, related_name="+", help_text="Cohorts whose members may enter; none for all."
    )
    submissions_open_at = models.DateTimeField()
    submissions_close_at = models.DateTimeField()
    judging_ends_at = models.DateTimeField()
    results_at = models.DateTimeField(help_text="When results are planned to be published.")
    prizes = models.TextField(blank=True, help_text="What the winners receive (credited at the published prize rate).")
    winners_count = models.PositiveSmallIntegerField(default=3)
    reviewers_per_entry = models.PositiveSmallIntegerField(default=3, help_text="k: reviewers assigned to each entry.")
    watch_share = models.FloatField(default=0.9, help_text="Share of a film a reviewer must watch before scoring.")
    exclude_same_cohort = models.BooleanField(
        default=True, help_text="Keep reviewers away from entries of people in their own cohorts."
    )
    appeal_days = models.PositiveSmallIntegerField(default=7, help_text="Days after publication to appeal.")
    max_duration_seconds = models.PositiveIntegerField(default=600)
    max_megabytes = models.PositiveIntegerField(default=500)
    announced_at = models.DateTimeField(null=True, blank=True, help_text="When eligible testers could first see it.")
    results_published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-submissions_open_at"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("competition:call", args=[self.pk])

    def submissions_open(self, at=None) -> bool:
        at = at or timezone.now()
        return self.submissions_open_at <= at < self.submissions_close_at

    def rubric_locked(self, at=None) -> bool:
        return (at or timezone.now()) >= self.submissions_open_at

    def closed(self, at=None) -> bool:
        return (at or timezone.now()) >= self.submissions_close_at

    @property
    def published(self) -> bool:
        return self.results_published_at is not None

    def appeals_close_at(self):
        if not self.results_published_at:
            return None
        return self.results_published_at + timezone.timedelta(days=self.appeal_days)

    def stage(self, at=None) -> str:
        at = at or timezone.now()
        if self.published:
            return "published"
        if not self.announced_at:
            return "draft"
        if at < self.submissions_open_at:
            return "announced"
        if at < self.submissions_close_at:
            return "open for entries"
        return "judging"


class Criterion(models.Model):
    """One line of a call's rubric: scored from 1 to ``scale_max``, each level described."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="criteria")
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    weight = models.FloatField(help_text="Relative weight in the combined score.")
    scale_max = models.PositiveSmallIntegerField(default=5, help_text="Scores run from 1 to this.")
    levels = models.JSONField(default=list, help_text="A description of each level, from 1 up.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["call", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["call", "name"], name="criterion_unique_name")]

    def __str__(self):
        return f"{self.name} (×{self.weight:g}, 1–{self.scale_max})"

    def level_rows(self) -> list[tuple[int, str]]:
        return [(index + 1, text) for index, text in enumerate(self.levels)]


class CallNotice(models.Model):
    """A change to a call's rules or rubric after submissions opened, sent to every entrant."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="notices")
    text = models.TextField()
    changes = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Notice on {self.call}: {self.text[:60]}"


class Submission(models.Model):
    """One person's entry to a call (at most one each), editable until the call closes. Its film is read (the
    marks of the clips it uses) and remuxed blind by a worker after the upload: ``processing`` says how far."""

    class Processing(models.TextChoices):
        WAITING = "waiting", "Waiting to be read"
        READING = "reading", "Being read"
        READY = "ready", "Ready"
        PROBLEM = "problem", "Needs a change"  # read, but its marks name clips the entry may not use
        FAILED = "failed", "Could not be read"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="submissions")
    entrant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="film_submissions")
    title = models.CharField(max_length=160)
    logline = models.CharField(max_length=400)
    credits = models.TextField(help_text="Who made the film; never shown to reviewers.")
    file = models.FileField(upload_to=film_path)
    blind_file = models.FileField(upload_to=blind_path, help_text="A remux with every piece of metadata stripped.")
    file_bytes = models.PositiveBigIntegerField(default=0)
    duration_seconds = models.FloatField(default=0)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    jobs = models.ManyToManyField("generation.RenderJob", through="SubmissionJob", related_name="film_submissions")
    marks_found = models.JSONField(default=list, help_text="Mark codes read from the film, one per clip found.")
    unknown_marks = models.JSONField(default=list, help_text="Job codes read from the film that name no job here.")
    windows_read = models.PositiveIntegerField(default=0)
    processing = models.CharField(
        max_length=8,
        choices=Processing.choices,
        default=Processing.WAITING,
        help_text="Where the reading of the film's marks and the making of its blind copy stand.",
    )
    processing_percent = models.PositiveSmallIntegerField(default=0)
    processing_problem = models.TextField(blank=True, help_text="Why the film is not ready, for the entrant.")
    submitted_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set at publication, from the ranking the admins reviewed; never recomputed afterwards.
    rank = models.PositiveIntegerField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    winner = models.BooleanField(default=False)

    class Meta:
        ordering = ["call", "submitted_at"]
        constraints = [models.UniqueConstraint(fields=["call", "entrant"], name="submission_one_per_entrant")]

    def __str__(self):
        return f"“{self.title}” in {self.call}"


class SubmissionJob(models.Model):
    """A platform job an entrant listed as used in their film, and whether its mark was found in it."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="listed_jobs")
    job = models.ForeignKey("generation.RenderJob", on_delete=models.PROTECT, related_name="+")
    matched = models.BooleanField(default=False)

    class Meta:
        ordering = ["submission", "pk"]
        constraints = [models.UniqueConstraint(fields=["submission", "job"], name="submissionjob_unique")]

    def __str__(self):
        return f"Job {self.job_id} in submission {self.submission_id}"


class ReviewerConflict(models.Model):
    """A reviewer's declared conflict of interest with an email address: never assigned the films of whoever
    has it. Kept as the address typed, never resolved to an account, so declaring reveals nobody."""

    programme = models.ForeignKey("access.Programme", on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_conflicts")
    email = models.EmailField(help_text="Lower case.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["programme", "reviewer", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "reviewer", "email"], name="conflict_unique_email"),
        ]

    def __str__(self):
        return f"Reviewer {self.reviewer_id} conflicted with {self.email}"


class ReviewAssignment(models.Model):
    """One reviewer judging one entry: watched ranges, draft and final scores."""

    class State(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        DRAFT = "draft", "Draft saved"
        SUBMITTED = "submitted", "Submitted"
        RECUSED = "recused", "Recused"

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="assignments")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="assignments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_assignments")
    state = models.CharField(max_length=12, choices=State.choices, default=State.ASSIGNED)
    assigned_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    watched = models.JSONField(default=list, help_text="Disjoint [start, end] second ranges the player reported.")
    watched_seconds = models.FloatField(default=0)
    last_watch_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    recuse_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["call", "assigned_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["submission", "reviewer"], name="assignment_unique")]

    def __str__(self):
        return f"Review {self.pk} of {self.submission_id} by {self.reviewer_id} ({self.state})"

    def get_absolute_url(self):
        return reverse("reviews:review", args=[self.pk])

    @property
    def started(self) -> bool:
        return self.state != self.State.ASSIGNED or self.watched_seconds > 0

    @property
    def watched_share(self) -> float:
        duration = self.submission.duration_seconds
        return min(1.0, self.watched_seconds / duration) if duration else 0.0


class Score(models.Model):
    """A reviewer's score of one criterion, with the reason the entrant reads after results."""

    assignment = models.ForeignKey(ReviewAssignment, on_delete=models.CASCADE, related_name="scores")
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="scores")
    value = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=600, blank=True)

    class Meta:
        ordering = ["assignment", "criterion__position", "criterion_id"]
        constraints = [models.UniqueConstraint(fields=["assignment", "criterion"], name="score_unique")]

    def __str__(self):
        return f"{self.criterion_id}: {self.value}"

    def clean(self):
        if self.value is not None and not 1 <= self.value <= self.criterion.scale_max:
            raise ValidationError({"value": f"Scores run from 1 to {self.criterion.scale_max}."})


class Appeal(models.Model):
    """An entrant's appeal against their result, answered by an admin on the record."""

    class Outcome(models.TextChoices):
        UPHELD = "upheld", "Upheld"
        DISMISSED = "dismissed", "Dismissed"

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="appeal")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    answer = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return f"Appeal on {self.submission}"
