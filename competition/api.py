"""The competition API, read-only (token scope ``read``): the calls you may see, your entries, and the
reviews assigned to you (blind, like the review page). Entering, scoring and watching are done on the
pages, where the upload checks and the player's watch reports live; no write scope is needed."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import mixins, permissions, serializers, viewsets

from access.api_auth import READ_ONLY_SCOPES, StaffTwoFactor, TokenHasScope
from competition import calls, reviews
from competition.media import film_url
from competition.models import Call, Criterion, ReviewAssignment, Submission
from core.input_checks import CheckedInput


class CriterionSerializer(CheckedInput, serializers.ModelSerializer):
    class Meta:
        model = Criterion
        fields = ["id", "name", "description", "weight", "scale_max", "levels"]


class CallSerializer(CheckedInput, serializers.ModelSerializer):
    criteria = CriterionSerializer(many=True, read_only=True)
    stage = serializers.SerializerMethodField()
    programme = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Call
        fields = [
            "id",
            "programme",
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
            "max_duration_seconds",
            "max_megabytes",
            "stage",
            "criteria",
            "results_published_at",
        ]
        read_only_fields = fields

    def get_stage(self, call) -> str:
        return call.stage()


class SubmissionSerializer(CheckedInput, serializers.ModelSerializer):
    jobs = serializers.SerializerMethodField()
    film_url = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "call",
            "title",
            "logline",
            "credits",
            "duration_seconds",
            "width",
            "height",
            "jobs",
            "film_url",
            "processing",
            "processing_percent",
            "processing_problem",
            "submitted_at",
            "updated_at",
            "rank",
            "score",
            "winner",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_jobs(self, submission) -> list:
        return [
            {"job_code": link.job.job_code, "mark_found": link.matched}
            for link in submission.listed_jobs.select_related("job")
        ]

    def get_film_url(self, submission) -> str:
        return self.context["request"].build_absolute_uri(
            film_url(submission, viewer=self.context["request"].user, blind=False)
        )

    def to_representation(self, submission):
        data = super().to_representation(submission)
        if not submission.call.published:  # ranks exist only once published
            data.update(rank=None, score=None, winner=False)
        return data


class ReviewSerializer(CheckedInput, serializers.ModelSerializer):
    """What a reviewer may know of an entry: nothing about who made it."""

    title = serializers.CharField(source="submission.title", read_only=True)
    logline = serializers.CharField(source="submission.logline", read_only=True)
    duration_seconds = serializers.FloatField(source="submission.duration_seconds", read_only=True)
    brief = serializers.CharField(source="call.brief", read_only=True)
    call_title = serializers.CharField(source="call.title", read_only=True)
    watched_share = serializers.FloatField(read_only=True)
    film_url = serializers.SerializerMethodField()

    class Meta:
        model = ReviewAssignment
        fields = [
            "id",
            "call",
            "call_title",
            "brief",
            "title",
            "logline",
            "duration_seconds",
            "state",
            "watched_seconds",
            "watched_share",
            "film_url",
            "submitted_at",
        ]
        read_only_fields = fields

    def get_film_url(self, assignment) -> str:
        return self.context["request"].build_absolute_uri(
            film_url(assignment.submission, viewer=self.context["request"].user, blind=True)
        )


class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Calls open to you (eligible testers, entrants) or run by you (programme admins)."""

    serializer_class = CallSerializer
    token_scopes = READ_ONLY_SCOPES

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Call.objects.none()
        visible = [call.pk for call in calls.calls_for(self.request.user)]
        return Call.objects.filter(pk__in=visible).select_related("programme").prefetch_related("criteria")


class SubmissionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your own entries; nobody else's are listed or found."""

    serializer_class = SubmissionSerializer
    token_scopes = READ_ONLY_SCOPES

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Submission.objects.none()
        return Submission.objects.filter(entrant=self.request.user).select_related("call").order_by("pk")


class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The reviews assigned to you, blind; like the review pages, only with two-factor set up."""

    serializer_class = ReviewSerializer
    token_scopes = READ_ONLY_SCOPES
    permission_classes = [permissions.IsAuthenticated, TokenHasScope, StaffTwoFactor]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ReviewAssignment.objects.none()
        return reviews.assignments_for(self.request.user).order_by("pk")
