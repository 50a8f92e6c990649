from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from access.models import ContributionRate
from core.append_only import AppendOnlyModel

Severity = ContributionRate.Severity
SEVERITIES = [choice for choice in Severity.choices if choice[0]]


class ModelVersion(models.Model):
    """A released version of a model. A clip was rendered by the latest version shipped before it was
    queued; a version's release notes list the reports it fixed."""

    programme = models.ForeignKey("access.Programme", on_delete=models.CASCADE, related_name="model_versions")
    model_key = models.CharField(max_length=64)
    version = models.CharField(max_length=40)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    shipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model_key", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "model_key", "version"], name="modelversion_unique"),
        ]

    def __str__(self):
        return f"{self.model_key} {self.version}"

    def get_absolute_url(self):
        return reverse("feedback:release_notes", args=[self.pk])


class ResponseTargets(models.Model):
    """The response times a programme publishes and every report is measured against."""

    programme = models.OneToOneField("access.Programme", on_delete=models.CASCADE, related_name="response_targets")
    first_response_hours = models.PositiveIntegerField(default=48)
    triage_hours = models.PositiveIntegerField(default=120)
    credit_hours = models.PositiveIntegerField(default=336)
    payout_days = models.PositiveIntegerField(default=14, help_text="Days after a period ends by which it is paid.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Response targets of {self.programme}"


class HarmCategory(models.Model):
    """A category of harm red-team findings are filed under; each programme keeps its own list."""

    programme = models.ForeignKey("access.Programme", on_delete=models.CASCADE, related_name="harm_categories")
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["programme", "name"]
        constraints = [models.UniqueConstraint(fields=["programme", "name"], name="harmcategory_unique_name")]

    def __str__(self):
        return self.name


RATING_SCORES = ("prompt_adherence", "motion", "visual_quality", "artefacts")


def _score_field(label):
    return models.PositiveSmallIntegerField(label, validators=[MinValueValidator(1), MaxValueValidator(5)])


class ClipRating(models.Model):
    """A tester's rating of one of their clips. Each accepted rating is credited once."""

    class State(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Not accepted"

    SCORES = RATING_SCORES

    job = models.ForeignKey("generation.RenderJob", on_delete=models.CASCADE, related_name="ratings")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clip_ratings")
    programme = models.ForeignKey("access.Programme", on_delete=models.CASCADE, related_name="clip_ratings")
    model_key = models.CharField(max_length=64)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    prompt_adherence = _score_field("prompt adherence")
    motion = _score_field("motion")
    visual_quality = _score_field("visual quality")
    artefacts = _score_field("artefacts (5: none)")
    comment = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "author"], name="cliprating_one_per_clip"),
            *[
                models.CheckConstraint(condition=Q(**{f"{score}__gte": 1, f"{score}__lte": 5}), name=f"rating_{score}")
                for score in RATING_SCORES
            ],
        ]

    def __str__(self):
        return f"Rating of {self.job.short_id} by {self.author}"


class Report(models.Model):
    """A bug report or a red-team finding. Findings are confidential: only their reporter and the
    programme's admins ever see them."""

    class Kind(models.TextChoices):
        BUG = "bug", "Bug report"
        FINDING = "finding", "Red-team finding"

    class State(models.TextChoices):
        NEW = "new", "New"
        TRIAGED = "triaged", "Triaged"
        NEEDS_INFO = "needs_info", "Needs more info"
        CONFIRMED = "confirmed", "Confirmed"
        DUPLICATE = "duplicate", "Duplicate"
        NOT_A_BUG = "not_a_bug", "Not a bug"
        WONT_FIX = "wont_fix", "Won't fix"
        FIXED = "fixed", "Fixed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    programme = models.ForeignKey("access.Programme", on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports")
    credit_name = models.CharField(
        max_length=80, blank=True, help_text="The name release notes credit; empty to be credited anonymously."
    )
    job = models.ForeignKey(
        "generation.RenderJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    title = models.CharField(max_length=200)
    steps = models.TextField(blank=True, help_text="Steps to reproduce.")
    expected = models.TextField(blank=True)
    actual = models.TextField(blank=True)
    page_url = models.CharField(max_length=500, blank=True, help_text="The page it was filed from.")
    harm_category = models.ForeignKey(HarmCategory, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    prompt = models.TextField(blank=True)
    outcome = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=SEVERITIES, default=Severity.MEDIUM)
    # Everything needed to reproduce a clip, copied when the report is filed: model, version, settings, seed,
    # worker and timings. A copy, so later changes to the job or the registry never change the report.
    reproduction = models.JSONField(default=dict, blank=True)
    model_key = models.CharField(max_length=64, blank=True)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=12, choices=State.choices, default=State.NEW, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_reports"
    )
    duplicate_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="duplicates")
    fixed_in = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="fixed_reports"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    triaged_at = models.DateTimeField(null=True, blank=True)
    credited_at = models.DateTimeField(null=True, blank=True)
    credit_withdrawal = models.OneToOneField(
        "LedgerEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The correction that took the credit back when this report was marked a duplicate; cleared when "
        "confirming it again restores the credit.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["programme", "kind", "state"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="bug", harm_category__isnull=True) | Q(kind="finding"),
                name="report_harm_only_on_findings",
            ),
            models.CheckConstraint(
                condition=Q(state="duplicate", duplicate_of__isnull=False) | (~Q(state="duplicate")),
                name="report_duplicate_links_original",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self):
        return reverse("feedback:report_detail", args=[self.pk])

    @property
    def is_finding(self) -> bool:
        return self.kind == self.Kind.FINDING

    def state_label(self) -> str:
        if self.is_finding and self.state == self.State.CONFIRMED:
            return "Accepted"
        return self.get_state_display()


class ReportEvent(models.Model):
    """One change to a report: its state, assignee, or a comment. The report's history, in order."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    from_state = models.CharField(max_length=12, blank=True)
    to_state = models.CharField(max_length=12, blank=True)
    comment = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.report_id}: {self.from_state} → {self.to_state}"


class Attachment(models.Model):
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to="reports/%Y/%m/")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=80)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Notification(models.Model):
    """A message to one person about their work (also sent by email)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.text


class LedgerEntry(AppendOnlyModel):
    """One credit, correction or payout in a tester's ledger. Append-only: never updated, never deleted.
    Each (kind, source) is credited at most once, enforced by the database."""

    append_only_message = "The ledger is append-only: corrections are new entries."

    class Kind(models.TextChoices):
        BUG = "bug", "Confirmed bug report"
        FINDING = "finding", "Accepted red-team finding"
        FEEDBACK = "feedback", "Accepted clip feedback"
        SUBMISSION = "submission", "Competition entry"
        PRIZE = "prize", "Competition prize"
        SHOWCASE = "showcase", "Showcase use of a clip"
        CORRECTION = "correction", "Correction"
        PAYOUT = "payout", "Payout"

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries")
    programme = models.ForeignKey("access.Programme", on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    source_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    source_id = models.CharField(max_length=64)
    source = GenericForeignKey("source_type", "source_id")
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True, default="")
    rate = models.ForeignKey(ContributionRate, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    points = models.IntegerField(default=0)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, blank=True)
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "source_type", "source_id"], name="ledger_once_per_source"),
        ]

    def __str__(self):
        return f"{self.person}: {self.get_kind_display()} {self.points} pts {self.amount} {self.currency}"


class Payout(models.Model):
    """Money paid for one programme, one currency and one period, to every tester with something due."""

    programme = models.ForeignKey("access.Programme", on_delete=models.PROTECT, related_name="payouts")
    currency = models.CharField(max_length=3)
    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "currency", "period_start", "period_end"], name="payout_once_per_period"
            )
        ]

    def __str__(self):
        return f"{self.programme} payout {self.period_start}–{self.period_end} {self.currency}"


class PayoutLine(models.Model):
    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="lines")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    points = models.IntegerField()

    class Meta:
        ordering = ["payout", "person"]
        constraints = [models.UniqueConstraint(fields=["payout", "person"], name="payoutline_one_per_person")]

    def __str__(self):
        return f"{self.person}: {self.amount} {self.payout.currency}"


class PaidEntry(models.Model):
    """A ledger entry settled by a payout line. One row per entry, ever: no entry is paid twice."""

    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="paid")
    line = models.ForeignKey(PayoutLine, on_delete=models.PROTECT, related_name="entries")

    def __str__(self):
        return f"{self.entry_id} paid by {self.line_id}"


class ShowcaseOffer(models.Model):
    """A tester's permission to show one of their clips. Revoking it stops future uses only."""

    job = models.OneToOneField("generation.RenderJob", on_delete=models.PROTECT, related_name="showcase_offer")
    artist = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="showcase_offers")
    programme = models.ForeignKey("access.Programme", on_delete=models.PROTECT, related_name="showcase_offers")
    credit_name = models.CharField(max_length=80)
    offered_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-offered_at"]

    def __str__(self):
        return f"Showcase offer of {self.job.short_id} by {self.credit_name}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ShowcaseUse(models.Model):
    class Kind(models.TextChoices):
        SCREENING = "screening", "Screening"
        POST = "post", "Post"
        OTHER = "other", "Other"

    offer = models.ForeignKey(ShowcaseOffer, on_delete=models.PROTECT, related_name="uses")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.CharField(max_length=300)
    credit_name = models.CharField(max_length=80)
    used_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-used_at"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.description} (by {self.credit_name})"
