import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from core.append_only import AppendOnlyModel
from core.urls import reverse_one
from generation.render_settings import RenderSettings

MARK_CODE_BITS = 32
# Crockford's base 32: no I, L, O or U, so a code read off a frame is not mistaken for another.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def mark_code_new() -> int:
    """A random mark code no job has yet: random, so a code says nothing about when or by whom."""
    while True:
        code = secrets.randbits(MARK_CODE_BITS)
        if not RenderJob.objects.filter(mark_code=code).exists():
            return code


def mark_version_current() -> int:
    """The version of the invisible mark that new clips are marked with."""
    from generation.watermark import CURRENT_VERSION

    return CURRENT_VERSION


def job_code(mark_code: int) -> str:
    """The 7-character form of a mark code shown on the frame and the clip page, e.g. 3ZK9QWA."""
    return "".join(CODE_ALPHABET[(mark_code >> shift) & 31] for shift in range(30, -1, -5))


class RenderSettingsFields(models.Model):
    """The render settings a job was made with and a preset keeps (generation.render_settings names them);
    the seed is each model's own: a job always has one, a preset only when it was chosen."""

    model_key = models.CharField(max_length=64)
    num_frames = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    num_steps = models.PositiveIntegerField()
    guidance_scale = models.FloatField()
    negative_prompt = models.TextField(blank=True)

    class Meta:
        abstract = True


class InputImage(models.Model):
    """An image a person uploaded to start a clip from (or end it on). Judged by its bytes when it came
    (generation/inputs.py) and kept in the private media storage under a random name."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="input_images")
    file = models.FileField(upload_to="inputs/")
    format = models.CharField(max_length=8, help_text="PNG, JPEG or WEBP, as read from the bytes.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.format} {self.width}x{self.height} ({self.pk.hex[:8]})"


class RenderJob(RenderSettingsFields):
    """One prompt rendered by one model. The row is the single source of truth for the render:
    the broker carries only its id, and the worker writes progress, state and timings here."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Stage(models.TextChoices):
        """Where a running job is: the denoising steps on the GPU, then the work after them."""

        DENOISING = "denoising", "Denoising"
        DECODING = "decoding", "Decoding the frames"
        MARKING = "marking", "Marking the frames"
        ENCODING = "encoding", "Encoding the MP4"
        SIGNING = "signing", "Signing its Content Credentials"
        STORING = "storing", "Storing the clip"

    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
    replayed = False  # set on a job returned again for a repeated idempotency key

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="render_jobs")
    grant = models.ForeignKey("access.Grant", on_delete=models.PROTECT, related_name="jobs")
    # The terms the work was done under; a later version never changes it.
    terms = models.ForeignKey("access.TermsVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    prompt = models.TextField()
    seed = models.BigIntegerField()
    mark_code = models.PositiveBigIntegerField(
        unique=True,
        default=mark_code_new,
        editable=False,
        help_text="The random 32-bit code hidden in every frame of the clip, which traces a leaked copy back here.",
    )
    mark_version = models.PositiveSmallIntegerField(
        default=mark_version_current,
        editable=False,
        help_text="The version of the invisible mark that hides the code (the reader knows every version).",
    )
    idempotency_key = models.CharField(
        max_length=80, blank=True, help_text="Chosen by the client; a retried submission returns the same job."
    )
    mode = models.CharField(max_length=20, default="text_to_video", help_text="registry.MODE_LABELS names them.")
    image = models.ForeignKey(InputImage, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    last_image = models.ForeignKey(InputImage, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    source = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="derived",
        help_text="The clip this one extends, restyles or upscales.",
    )
    strength = models.FloatField(null=True, blank=True, help_text="Restyle: how far from the source (0 to 1).")

    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    priority = models.SmallIntegerField(default=0, help_text="Staff raise this to let a job jump the fair-share order.")
    progress_step = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    stage = models.CharField(max_length=16, choices=Stage.choices, blank=True)
    denoised_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last denoising step ended: what follows it is timed from here."
    )
    attempts = models.PositiveIntegerField(default=0)
    given_back = models.PositiveSmallIntegerField(
        default=0, help_text="Workers that turned unhealthy over it and gave it back (generation/health.py)."
    )
    worker = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=64, blank=True, help_text="The Celery message whose worker claimed the job.")
    error = models.TextField(blank=True)

    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="The worker's last sign of life for this job (claim, then every step)."
    )
    stopped_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker gave the render up mid-way (cancelled, or access taken away)."
    )
    gpu_seconds = models.FloatField(null=True, blank=True, help_text="Seconds the pipeline ran on the device.")
    # What the job costs its grant: the estimate while it waits or runs, the measured seconds once it
    # succeeds, nothing if it fails or is cancelled. Changed only together with the state.
    charged_seconds = models.FloatField(default=0)
    encode_seconds = models.FloatField(null=True, blank=True)

    output = models.FileField(upload_to="renders/", blank=True)
    output_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    poster = models.FileField(upload_to="posters/", blank=True, help_text="A still from the middle of the clip.")

    held = models.BooleanField(
        default=False, help_text="Staff held the waiting job: it keeps its place and reservation but does not start."
    )
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When its owner deleted the clip; the row stays for quota, audit and tracing."
    )

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            # A person's jobs newest first; it also covers (on PostgreSQL) the fair-share order's sum of
            # each person's recent GPU time, once per waiting job, without reading the table.
            models.Index(
                fields=["owner", "queued_at"], include=["state", "charged_seconds"], name="renderjob_owner_recent"
            ),
            models.Index(fields=["grant", "state"]),
            models.Index(fields=["model_key", "state"]),
            # The claim (generation.queue._claim_head): the people with waiting jobs of a model, and the first
            # of each one's own queue, read from the index alone.
            models.Index(
                fields=["model_key", "owner", "-priority", "queued_at", "id"],
                condition=Q(state="queued", held=False),
                name="renderjob_waiting_heads",
            ),
            # The staff queue's held jobs: a few among the waiting thousands, found without reading those.
            models.Index(fields=["queued_at"], condition=Q(state="queued", held=True), name="renderjob_held"),
            # A message delivered again finds the job its worker had claimed.
            models.Index(fields=["task_id"], condition=Q(state="running"), name="renderjob_running_task"),
            # The staff's lists of every job (the admin's changelist), newest first, without a sort.
            models.Index(fields=["-queued_at", "-id"], name="renderjob_newest"),
            # The staff queue's last-24-hours summary and latest failures.
            models.Index(fields=["-finished_at"], name="renderjob_finished"),
            # A model's recent render times, for expected starts on every list and progress poll.
            models.Index(
                fields=["model_key", "-finished_at"], condition=Q(state="succeeded"), name="renderjob_model_finished"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="renderjob_unique_idempotency_key",
            ),
            models.CheckConstraint(condition=models.Q(num_frames__gte=1), name="renderjob_frames_positive"),
            models.CheckConstraint(condition=models.Q(num_steps__gte=1), name="renderjob_steps_positive"),
        ]

    def __str__(self):
        return f"{self.model_key} job {self.short_id} ({self.state})"

    def get_absolute_url(self):
        return reverse_one("generation:job_detail", self.pk)  # lists link every row, some twice

    @property
    def short_id(self) -> str:
        return self.pk.hex[:8]

    @property
    def job_code(self) -> str:
        return job_code(self.mark_code)

    @property
    def mode_label(self) -> str:
        from generation.registry import MODE_LABELS

        return MODE_LABELS.get(self.mode, self.mode)

    @property
    def clip_frames(self) -> int:
        """Frames in the clip: an extension's clip is its source's and the new frames (generation.extend)."""
        from generation.extend import clip_frames

        return clip_frames(self)

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def progress_percent(self) -> int:
        if self.state == self.State.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_step / self.progress_total))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class UsageHour(models.Model):
    """The GPU time one person's started jobs are charged, per hour the jobs were queued in: what fair share
    sums over its window (generation/usage.py) in a few indexed rows per person, whatever their history.

    Kept by the database itself, in the same statement as every change to a job's row (triggers made by
    migration 0016): a job counts here from the moment it stops waiting (claimed, then settled, refunded or
    requeued) with its ``charged_seconds``, in whole milliseconds so that adding and taking away a charge
    leaves no rounding behind. Nothing in the code writes this table."""

    # No index of its own: the unique (owner, hour) index serves each person's window.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    hour = models.DateTimeField(help_text="The hour (UTC) the jobs were queued in.")
    milliseconds = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "hour"], name="usagehour_owner_hour")]

    def __str__(self):
        return f"{self.owner_id} {self.hour:%Y-%m-%d %H}h: {self.milliseconds / 1000:.1f} s"


class PromptRule(models.Model):
    """One rule of a programme's prompt policy: a blocked word or phrase, or a regular expression.
    Prompts are checked against the enabled rules at submission (generation/prompt_policy.py)."""

    class Kind(models.TextChoices):
        TERM = "term", "Blocked word or phrase"
        PATTERN = "pattern", "Regular expression"

    programme = models.ForeignKey("access.Programme", on_delete=models.CASCADE, related_name="prompt_rules")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TERM)
    text = models.CharField(max_length=300, help_text="The word or phrase, or the pattern.")
    reason = models.CharField(max_length=300, help_text="Shown to the person whose prompt it refuses.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["programme", "kind", "text"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "kind", "text"], name="promptrule_unique_text"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} “{self.text}”"


class PromptRefusal(AppendOnlyModel):
    """A submission the prompt policy refused, kept for the red team. Append-only: never updated,
    never deleted. The rule's text and reason are copied, so a later edit of the rule does not
    change what the record says."""

    append_only_message = "Prompt refusals are append-only."

    class Via(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="prompt_refusals")
    programme = models.ForeignKey("access.Programme", on_delete=models.PROTECT, related_name="prompt_refusals")
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    model_key = models.CharField(max_length=64)
    rule = models.ForeignKey(PromptRule, on_delete=models.PROTECT, related_name="refusals")
    rule_text = models.CharField(max_length=300)
    reason = models.CharField(max_length=300)
    field = models.CharField(max_length=20, help_text="prompt or negative_prompt")
    matched_text = models.TextField(blank=True)
    via = models.CharField(max_length=8, choices=Via.choices)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["programme", "-at"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} refused by {self.rule_text!r}"


class Preset(RenderSettingsFields):
    """A named group of render settings, owned by a person (private) or by a programme (shared
    with its members, managed by its admins). The prompt is never part of a preset; the seed is
    only when it was chosen."""

    SETTINGS = RenderSettings.names()

    name = models.CharField(max_length=80)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="presets"
    )
    programme = models.ForeignKey(
        "access.Programme", on_delete=models.CASCADE, null=True, blank=True, related_name="presets"
    )
    seed = models.BigIntegerField(null=True, blank=True, help_text="Empty for a random seed each time.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=False, programme__isnull=True)
                | Q(owner__isnull=True, programme__isnull=False),
                name="preset_one_owner",
            ),
            models.UniqueConstraint(
                fields=["owner", "name"], condition=Q(owner__isnull=False), name="preset_unique_personal"
            ),
            models.UniqueConstraint(
                fields=["programme", "name"], condition=Q(programme__isnull=False), name="preset_unique_programme"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.programme_id is not None

    def render_settings(self) -> dict:
        return RenderSettings.from_preset(self).as_fields()


class Worker(models.Model):
    """A Celery worker process as it last reported itself. Written by the worker's own signals
    (generation/signals.py); a worker whose last sign of life is too old is shown as offline."""

    class State(models.TextChoices):
        IDLE = "idle", "Idle"
        BUSY = "busy", "Busy"
        STOPPED = "stopped", "Stopped"

    hostname = models.CharField(max_length=255, unique=True, help_text="The Celery node name, e.g. gpu0@host.")
    queues = models.CharField(max_length=255, blank=True, help_text="The model queues it consumes, comma-separated.")
    pid = models.PositiveIntegerField(null=True, blank=True)
    device = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IDLE)
    current_job = models.ForeignKey(RenderJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    jobs_done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    # Health (generation/health.py): set by the worker itself, cleared only by staff (a restart keeps it).
    unhealthy_since = models.DateTimeField(
        null=True, blank=True, help_text="When it stopped taking jobs for a fault of its own; empty while healthy."
    )
    health_reason = models.TextField(blank=True, help_text="Why it is unhealthy: the error it could not get past.")
    failures_in_row = models.PositiveIntegerField(
        default=0, help_text="Renders failed in a row for faults of its own; a finished render resets it."
    )

    class Meta:
        ordering = ["hostname"]

    def __str__(self):
        return f"{self.hostname} ({self.state})"

    @property
    def is_healthy(self) -> bool:
        return self.unhealthy_since is None

    @property
    def model_keys(self) -> list[str]:
        """The models this worker renders: its render.<model> queues (it may serve others, such as films)."""
        return [name.removeprefix("render.") for name in self.queues.split(",") if name.startswith("render.")]


# --- The person's library: favourites and collections (generation/library.py) --------------------


class Favourite(models.Model):
    """A clip its owner starred. Only finished clips are starred, and only by their owner; deleting the clip
    unstars it (generation.library.job_unlist)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "job"], name="favourite_unique_job")]

    def __str__(self):
        return f"{self.owner} ★ {self.job.short_id}"


class Collection(models.Model):
    """A named group of a person's own clips, private to them. Names are unique per person, whatever their case."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "owner", name="collection_unique_name"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("generation:collection_detail", args=[self.pk])


class CollectionItem(models.Model):
    """One clip in one collection, newest first on the collection's page."""

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="collection_items")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["collection", "job"], name="collectionitem_unique_job")]
        indexes = [models.Index(fields=["collection", "-added_at", "-id"], name="collectionitem_newest")]

    def __str__(self):
        return f"{self.job.short_id} in {self.collection}"
