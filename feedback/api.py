"""The feedback API (token scope ``feedback``): your ratings, your reports and findings, your ledger.
Nobody else's are listed or found; triage is done by admins on the pages."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.input_checks import TEXT_AREA, CheckedInput
from core.parsers import BoundedJSONParser
from feedback import clips, ratings, reports
from feedback.ledger import statement_for
from feedback.models import SEVERITIES, ClipRating, HarmCategory, LedgerEntry, Report, ReportEvent
from generation import gallery

FEEDBACK_SCOPE = dict.fromkeys(("GET", "HEAD", "OPTIONS", "POST"), "feedback")


def _own_job(request, job_id):
    job = gallery.jobs_for(request.user).filter(pk=job_id).first()
    if job is None:  # someone else's clip answers like one that does not exist
        raise exceptions.ValidationError({"job": ["No such clip of yours."]})
    return job


class ClipRatingSerializer(CheckedInput, serializers.ModelSerializer):
    model_version = serializers.SlugRelatedField(slug_field="version", read_only=True, allow_null=True)

    class Meta:
        model = ClipRating
        fields = [
            "id",
            "job",
            "model_key",
            "model_version",
            *ClipRating.SCORES,
            "comment",
            "tags",
            "state",
            "created_at",
        ]
        read_only_fields = fields


class ClipRatingCreateSerializer(CheckedInput, serializers.Serializer):
    job = serializers.UUIDField()
    prompt_adherence = serializers.IntegerField(min_value=1, max_value=5)
    motion = serializers.IntegerField(min_value=1, max_value=5)
    visual_quality = serializers.IntegerField(min_value=1, max_value=5)
    artefacts = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, max_length=5000, default="")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=30), required=False, default=list, max_length=10
    )


class ClipRatingViewSet(
    mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    """Your ratings of your clips. Posting again for the same clip changes the rating until it is reviewed."""

    serializer_class = ClipRatingSerializer
    token_scopes = FEEDBACK_SCOPE

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ClipRating.objects.none()
        return ClipRating.objects.filter(author=self.request.user).select_related("model_version")

    @extend_schema(
        request=ClipRatingCreateSerializer,
        responses={201: ClipRatingSerializer},
        examples=[
            OpenApiExample(
                "A rating",
                request_only=True,
                value={
                    "job": "5b0c1f4e-8d3a-4c56-9f1e-2a7b6c8d9e01",
                    "prompt_adherence": 4,
                    "motion": 3,
                    "visual_quality": 4,
                    "artefacts": 2,
                    "comment": "The waves loop.",
                    "tags": ["motion"],
                },
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        incoming = ClipRatingCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        job = _own_job(request, data.pop("job"))
        rating = ratings.rating_save(job=job, author=request.user, **data)
        return Response(ClipRatingSerializer(rating).data, status=status.HTTP_201_CREATED)


class ReportEventSerializer(CheckedInput, serializers.ModelSerializer):
    by_reporter = serializers.SerializerMethodField()

    class Meta:
        model = ReportEvent
        fields = ["at", "from_state", "to_state", "comment", "by_reporter"]

    def get_by_reporter(self, event) -> bool:
        return event.actor_id == event.report.reporter_id


class ReportSerializer(CheckedInput, serializers.ModelSerializer):
    harm_category = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    model_version = serializers.SlugRelatedField(slug_field="version", read_only=True, allow_null=True)
    state_label = serializers.CharField(read_only=True)
    events = ReportEventSerializer(many=True, read_only=True)
    attachments = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = [
            "id",
            "kind",
            "title",
            "severity",
            "state",
            "state_label",
            "harm_category",
            "job",
            "model_key",
            "model_version",
            "steps",
            "expected",
            "actual",
            "prompt",
            "outcome",
            "page_url",
            "credit_name",
            "reproduction",
            "duplicate_of",
            "created_at",
            "first_response_at",
            "triaged_at",
            "credited_at",
            "events",
            "attachments",
        ]
        read_only_fields = fields

    def get_attachments(self, report) -> list[dict]:
        return [
            {"name": item.name, "content_type": item.content_type, "size": item.size}
            for item in report.attachments.all()
        ]


class ReportCreateSerializer(CheckedInput, serializers.Serializer):
    kind = serializers.ChoiceField(choices=Report.Kind.choices)
    job = serializers.UUIDField(required=False, allow_null=True, default=None)
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=SEVERITIES, default="medium")
    steps = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, default="", max_length=20000)
    expected = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, default="", max_length=20000)
    actual = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, default="", max_length=20000)
    prompt = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, default="", max_length=20000)
    outcome = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, default="", max_length=20000)
    harm_category = serializers.CharField(required=False, allow_blank=True, default="", help_text="Its name.")
    credit_name = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None, max_length=80)
    attachments = serializers.ListField(child=serializers.FileField(), required=False, default=list)


class CommentSerializer(CheckedInput, serializers.Serializer):
    body = serializers.CharField(style=TEXT_AREA, max_length=10000)


class ReportViewSet(mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your bug reports and red-team findings, with their history. Post JSON, or multipart with attachments."""

    serializer_class = ReportSerializer
    token_scopes = FEEDBACK_SCOPE
    filterset_fields = ["kind", "state"]
    parser_classes = [BoundedJSONParser, parsers.MultiPartParser, parsers.FormParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Report.objects.none()
        return (
            Report.objects.filter(reporter=self.request.user)
            .select_related("harm_category", "model_version")
            .prefetch_related("events__report", "attachments")
        )

    @extend_schema(
        request=ReportCreateSerializer,
        responses={201: ReportSerializer},
        examples=[
            OpenApiExample(
                "A bug report",
                request_only=True,
                value={
                    "kind": "bug",
                    "title": "The last frames turn grey",
                    "severity": "high",
                    "steps": "Render any prompt with 9 frames",
                    "expected": "Colour to the end",
                    "actual": "Grey",
                },
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        incoming = ReportCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        job = _own_job(request, data.pop("job")) if data["job"] else None
        data.pop("job", None)
        programme = clips.job_programme(job) if job else reports.reporter_programme(person=request.user)
        category_name = data.pop("harm_category")
        category = None
        if category_name:
            category = HarmCategory.objects.filter(programme=programme, name__iexact=category_name).first()
            if category is None:
                raise exceptions.ValidationError({"harm_category": [f"No category of harm named {category_name!r}."]})
        report = reports.report_file(
            reporter=request.user, job=job, programme=programme, harm_category=category, **data
        )
        return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CommentSerializer,
        responses={201: ReportSerializer},
        examples=[OpenApiExample("A comment", request_only=True, value={"body": "Still happens with 17 frames."})],
    )
    @action(detail=True, methods=["post"])
    def comments(self, request, pk=None):
        report = self.get_object()
        incoming = CommentSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        reports.report_comment(report=report, author=request.user, body=incoming.validated_data["body"])
        return Response(ReportSerializer(self.get_queryset().get(pk=report.pk)).data, status=status.HTTP_201_CREATED)


class LedgerEntrySerializer(CheckedInput, serializers.ModelSerializer):
    programme = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    rate = serializers.StringRelatedField()

    class Meta:
        model = LedgerEntry
        fields = ["id", "created_at", "programme", "kind", "reason", "severity", "rate", "points", "amount", "currency"]
        read_only_fields = fields


class MoneySerializer(serializers.DictField):
    """Amounts per currency, as decimal strings: {"USD": "40.00"}."""

    child = serializers.CharField()


class PeriodTotalSerializer(CheckedInput, serializers.Serializer):
    period = serializers.CharField(help_text="A month, YYYY-MM.")
    points = serializers.IntegerField()
    amounts = MoneySerializer()


class StatementSerializer(CheckedInput, serializers.Serializer):
    points = serializers.IntegerField()
    earned = MoneySerializer()
    paid = MoneySerializer()
    due = MoneySerializer(help_text="Earned less paid, per currency.")
    periods = PeriodTotalSerializer(many=True, help_text="Newest month first.")


class LedgerViewSet(viewsets.ReadOnlyModelViewSet):
    """Your contribution ledger, and (``statement/``) your totals and what is due."""

    serializer_class = LedgerEntrySerializer
    token_scopes = FEEDBACK_SCOPE
    filterset_fields = ["kind"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        return LedgerEntry.objects.filter(person=self.request.user).select_related("programme", "rate")

    @extend_schema(responses={200: StatementSerializer})
    @action(detail=False)
    def statement(self, request):
        return Response(StatementSerializer(statement_for(request.user)).data)
