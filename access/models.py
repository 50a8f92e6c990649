import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core.append_only import AppendOnlyModel


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


def standing_version_new() -> int:
    return secrets.randbits(62)


class User(AbstractUser):
    """A person in the programme, identified by email address."""

    username = None
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=80, blank=True, help_text="The name credited on this person's work.")
    # Raising this ends every session the person has, at once (it is part of the session hash).
    session_epoch = models.PositiveIntegerField(default=0, editable=False)
    # Moved to a new random value by every change to what this person may do: the key of the standing that
    # signed-in requests keep between them (access/standing.py). Random from the start too, so an account made
    # where another of the same id was (a database emptied and filled again) never finds that one's standing.
    standing_version = models.BigIntegerField(default=standing_version_new, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.display_name or self.email

    # Written only by the queries that move them (access.suspensions.sessions_end_all, access.standing.standing_moved):
    # a whole save of an account loaded before such a move (a password change, the admin's form) would put the old
    # value back, reopening ended sessions and a standing from before a suspension.
    MOVED_ONLY_BY_QUERY = ("session_epoch", "standing_version")

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key
                and field.name not in self.MOVED_ONLY_BY_QUERY
                and field.attname not in deferred
            ]
        super().save(*args, **kwargs)

    def get_session_auth_hash(self):
        return salted_hmac(
            "access.User.get_session_auth_hash", f"{self.password}:{self.session_epoch}", algorithm="sha256"
        ).hexdigest()


class Role(models.TextChoices):
    ARTIST = "artist", "Artist"
    RED_TEAMER = "red_teamer", "Red teamer"
    COLLABORATOR = "collaborator", "Creative collaborator"
    REVIEWER = "reviewer", "Reviewer"
    ADMIN = "admin", "Programme admin"


TESTER_ROLES = (Role.ARTIST, Role.RED_TEAMER, Role.COLLABORATOR)
STAFF_ROLES = (Role.REVIEWER, Role.ADMIN)


class Programme(models.Model):
    """An early-access programme for one or more models, e.g. "Alpha"."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    model_keys = models.JSONField(
        default=list, blank=True, help_text="Models this programme offers; empty offers every model in the registry."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def offers_model(self, model_key: str) -> bool:
        return not self.model_keys or model_key in self.model_keys


class GrantLimits(models.Model):
    """What a grant allows. Cohorts carry a set of these as the template for new members' grants."""

    model_keys = models.JSONField(default=list, blank=True, help_text="Model keys allowed; empty allows every model.")
    max_frames = models.PositiveIntegerField(default=121)
    max_width = models.PositiveIntegerField(default=1280)
    max_height = models.PositiveIntegerField(default=1280)
    max_steps = models.PositiveIntegerField(default=50)
    downloads_allowed = models.BooleanField(default=True)
    gpu_seconds_per_day = models.PositiveIntegerField(default=600)
    gpu_seconds_total = models.PositiveIntegerField(default=6000)
    max_queued_jobs = models.PositiveIntegerField(default=3, help_text="Jobs queued or running at once.")

    LIMIT_FIELDS = (
        "model_keys",
        "max_frames",
        "max_width",
        "max_height",
        "max_steps",
        "downloads_allowed",
        "gpu_seconds_per_day",
        "gpu_seconds_total",
        "max_queued_jobs",
    )

    class Meta:
        abstract = True

    def limits(self) -> dict:
        return {field: getattr(self, field) for field in self.LIMIT_FIELDS}


class Cohort(GrantLimits):
    """A group of people in a programme ("Wave 1", "Red team"). Its limits are the default grant."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60)
    grant_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long new members' grants last; empty for no end date."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["programme", "name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "slug"], name="cohort_unique_slug"),
            models.UniqueConstraint(fields=["programme", "name"], name="cohort_unique_name"),
        ]

    def __str__(self):
        return f"{self.programme} / {self.name}"


class Membership(models.Model):
    """A role a person holds in a programme, in a cohort for testers."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="memberships")
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["programme", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "programme", "role"], name="membership_unique_role"),
        ]

    def __str__(self):
        return f"{self.user} — {self.get_role_display()} in {self.cohort or self.programme}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Invitation(models.Model):
    class State(models.TextChoices):
        SENT = "sent", "Sent"
        ACCEPTED = "accepted", "Accepted"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="invitations")
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, null=True, blank=True, related_name="invitations")
    role = models.CharField(max_length=20, choices=Role.choices)
    email = models.EmailField()
    # Only a digest of the link's secret is kept: a database leak does not leak working links.
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email"])]

    def __str__(self):
        return f"Invitation for {self.email} to {self.cohort or self.programme} ({self.state})"

    @property
    def state(self) -> str:
        if self.accepted_at:
            return self.State.ACCEPTED
        if self.revoked_at:
            return self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.SENT

    def get_state_display(self) -> str:
        return self.State(self.state).label


class Grant(GrantLimits):
    """Access to the generation service for one person in one programme."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grants")
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="grants")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["programme", "user"]
        constraints = [models.UniqueConstraint(fields=["user", "programme"], name="grant_one_per_programme")]

    def __str__(self):
        return f"Grant for {self.user} in {self.programme}"

    def is_current(self, at=None) -> bool:
        at = at or timezone.now()
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)

    def allows_model(self, model_key: str) -> bool:
        """The grant's own list, within what its programme offers."""
        return (not self.model_keys or model_key in self.model_keys) and self.programme.offers_model(model_key)


class SuspensionQuerySet(models.QuerySet):
    def active(self, at=None):
        at = at or timezone.now()
        return self.filter(lifted_at__isnull=True, starts_at__lte=at).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at)
        )


class Suspension(models.Model):
    """Access taken away from one person, a cohort, or a whole programme (a pause), until lifted
    or until ``ends_at``. A revocation is a suspension with no end that is not meant to be lifted."""

    class Scope(models.TextChoices):
        PERSON = "person", "Person"
        COHORT = "cohort", "Cohort"
        PROGRAMME = "programme", "Programme"

    class Kind(models.TextChoices):
        SUSPENSION = "suspension", "Suspension"
        REVOCATION = "revocation", "Revocation"
        PAUSE = "pause", "Programme pause"

    scope = models.CharField(max_length=12, choices=Scope.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.SUSPENSION)
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="suspensions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="suspensions"
    )
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, null=True, blank=True, related_name="suspensions")
    reason = models.TextField()
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when done from the command line.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lift_reason = models.TextField(blank=True)

    objects = SuspensionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="person", user__isnull=False, cohort__isnull=True)
                    | Q(scope="cohort", user__isnull=True, cohort__isnull=False)
                    | Q(scope="programme", user__isnull=True, cohort__isnull=True)
                ),
                name="suspension_target_matches_scope",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.target}"

    @property
    def target(self):
        return self.user or self.cohort or self.programme

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return self.lifted_at is None and self.starts_at <= at and (self.ends_at is None or at < self.ends_at)


class AuditEvent(AppendOnlyModel):
    """Who did what to whom, why and from where. Append-only: never updated, never deleted."""

    append_only_message = "The audit trail is append-only."

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The person the action was done to, where there is one.",
    )
    target = models.CharField(max_length=255, blank=True, help_text="What was acted on, as text.")
    reason = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target}"


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 digest is stored; the token is shown once, at creation."""

    class Scope(models.TextChoices):
        READ = "read", "Read your jobs"
        GENERATE = "generate", "Submit and cancel jobs"
        FEEDBACK = "feedback", "File feedback and reports"
        TRACE = "trace", "Trace leaked clips (programme admins)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    scopes = models.JSONField(default=list)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=16, editable=False, help_text="The token's first characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)
    # Set by leak detection; an admin confirms (revokes) or lifts it.
    suspended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.hint}…)"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.suspended_at:
            return "suspended"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class CredentialSighting(models.Model):
    """A network a session or token was used from, and when: the evidence for leak detection."""

    credential = models.CharField(max_length=80, help_text="session:<digest> or token:<id>")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    network = models.CharField(max_length=64)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["credential", "network"], name="sighting_unique")]

    def __str__(self):
        return f"{self.credential} from {self.network}"


class LeakAlert(models.Model):
    """A credential that looks shared or exposed. It is suspended at once; an admin confirms or lifts."""

    class Kind(models.TextChoices):
        NETWORKS = "networks", "Used from too many networks"
        BURST = "burst", "Burst of jobs far above the person's history"
        EXPOSED = "exposed", "Token string found in submitted text"

    class State(models.TextChoices):
        OPEN = "open", "Awaiting review"
        CONFIRMED = "confirmed", "Confirmed (credential revoked)"
        LIFTED = "lifted", "Lifted (false alarm)"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leak_alerts")
    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts")
    credential = models.CharField(max_length=80)
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.user} ({self.state})"


class TermsVersion(models.Model):
    """A published version of a programme's terms. Versions are never edited: a change is a new version."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="terms_versions")
    version = models.PositiveIntegerField()
    text = models.TextField()
    changes = models.TextField(blank=True, help_text="What changed since the previous version, in plain words.")
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["programme", "-version"]
        constraints = [models.UniqueConstraint(fields=["programme", "version"], name="terms_unique_version")]

    def __str__(self):
        return f"{self.programme} terms v{self.version}"


class TermsResponse(models.Model):
    """A person's answer to one version of the terms."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="terms_responses")
    terms = models.ForeignKey(TermsVersion, on_delete=models.PROTECT, related_name="responses")
    accepted = models.BooleanField()
    responded_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-responded_at"]
        constraints = [models.UniqueConstraint(fields=["user", "terms"], name="terms_one_response")]

    def __str__(self):
        return f"{self.user} {'accepted' if self.accepted else 'declined'} {self.terms}"


class ContributionRate(models.Model):
    """A published rate for one kind of contribution. Rates are never edited: a new rate takes effect
    from its date, and work credited earlier keeps the rate it was credited at."""

    class Kind(models.TextChoices):
        BUG = "bug", "Confirmed bug report"
        FINDING = "finding", "Accepted red-team finding"
        FEEDBACK = "feedback", "Accepted clip feedback"
        SUBMISSION = "submission", "Competition entry"
        PRIZE = "prize", "Competition prize"
        SHOWCASE = "showcase", "Showcase use of a clip"

    class Severity(models.TextChoices):
        NONE = "", "Any"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="rates")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True, default="")
    points = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD", help_text="ISO 4217 code, e.g. USD, EUR, GBP.")
    effective_from = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["programme", "kind", "severity", "-effective_from"]

    def __str__(self):
        severity = f" ({self.get_severity_display().lower()})" if self.severity else ""
        return f"{self.get_kind_display()}{severity}: {self.points} points, {self.amount} {self.currency}"
