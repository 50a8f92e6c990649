from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from access import leaks
from access.policy import current_grant
from generation import presets, selectors, services
from generation.media import media_url
from generation.models import Preset, RenderJob
from generation.registry import model_choices
from generation.services import SEED_MAX


class QuotaExceeded(exceptions.PermissionDenied):
    default_code = "quota_exceeded"


class IdempotencyConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_conflict"


class RenderJobSerializer(serializers.ModelSerializer):
    video_url = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    estimated_start_at = serializers.SerializerMethodField()
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = RenderJob
        fields = [
            "id",
            "prompt",
            "negative_prompt",
            "model_key",
            "num_frames",
            "width",
            "height",
            "num_steps",
            "guidance_scale",
            "seed",
            "state",
            "progress_step",
            "progress_total",
            "progress_percent",
            "error",
            "queued_at",
            "started_at",
            "finished_at",
            "gpu_seconds",
            "encode_seconds",
            "charged_seconds",
            "video_url",
            "queue_position",
            "estimated_start_at",
        ]
        read_only_fields = fields

    def get_queue_position(self, job) -> int | None:
        if not hasattr(job, "_queue_position"):  # asked by both fields; one query serves them
            job._queue_position = services.queue_position(job)
        return job._queue_position

    def get_estimated_start_at(self, job) -> str | None:
        start = services.estimated_start(job, self.get_queue_position(job))
        return start.isoformat() if start else None

    def get_video_url(self, job) -> str | None:
        if job.state != RenderJob.State.SUCCEEDED:
            return None
        url = media_url(job)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class RenderJobCreateSerializer(serializers.Serializer):
    """The shape of a new job; the rules it must meet live in generation.services."""

    prompt = serializers.CharField(allow_blank=True, trim_whitespace=True)
    negative_prompt = serializers.CharField(required=False, allow_blank=True, default="")
    model_key = serializers.ChoiceField(choices=model_choices())
    num_frames = serializers.IntegerField(min_value=1)
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)
    num_steps = serializers.IntegerField(min_value=1)
    guidance_scale = serializers.FloatField()
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=SEED_MAX, default=None)

    def validate(self, attrs):
        errors = services.job_validate(**attrs, grant=current_grant(self.context["request"].user))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class RenderJobViewSet(
    mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    """Your render jobs. Nobody else's jobs are listed or found."""

    serializer_class = RenderJobSerializer
    token_scopes = {"GET": "read", "HEAD": "read", "OPTIONS": "read", "POST": "generate"}
    filterset_fields = ["state", "model_key"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return RenderJob.objects.none()
        return selectors.jobs_for(self.request.user)

    @extend_schema(
        request=RenderJobCreateSerializer,
        responses={201: RenderJobSerializer, 200: RenderJobSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Send the same key again (e.g. after a timeout) to get the same job, not a second one.",
            )  # fmt: skip
        ],
    )
    def create(self, request, *args, **kwargs):
        incoming = RenderJobCreateSerializer(data=request.data, context=self.get_serializer_context())
        incoming.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 80:
            raise exceptions.ValidationError({"idempotency_key": ["Idempotency keys are at most 80 characters."]})
        try:
            job = services.job_create(owner=request.user, idempotency_key=key, via="api", **incoming.validated_data)
        except DjangoValidationError as error:
            raise exceptions.ValidationError(error.message_dict) from error
        except services.QuotaExceeded as error:
            raise QuotaExceeded(str(error)) from error
        except services.IdempotencyConflict as error:
            raise IdempotencyConflict(str(error)) from error
        if job.replayed:
            return Response(RenderJobSerializer(job, context=self.get_serializer_context()).data)
        credential = leaks.request_credential(request)
        if credential:
            leaks.burst_check(user=request.user, **credential)
        data = RenderJobSerializer(job, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": data["id"]})

    @extend_schema(request=None, responses={200: RenderJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        services.job_cancel(job=job)
        return Response(RenderJobSerializer(job, context=self.get_serializer_context()).data)


class PresetSerializer(serializers.ModelSerializer):
    """A preset's shape; the model's rules it must meet live in generation.presets."""

    shared = serializers.BooleanField(source="is_shared", read_only=True)
    programme = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_key = serializers.ChoiceField(choices=model_choices())
    num_frames = serializers.IntegerField(min_value=1)
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)
    num_steps = serializers.IntegerField(min_value=1)
    negative_prompt = serializers.CharField(required=False, allow_blank=True, default="")
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=SEED_MAX, default=None)

    class Meta:
        model = Preset
        fields = [
            "id", "name", "shared", "programme", "model_key", "num_frames", "width", "height", "num_steps",
            "guidance_scale", "negative_prompt", "seed", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "shared", "programme", "created_at"]
        validators: list = []  # names are checked by the service, with a clearer message


class PresetViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your presets and those your programmes share. You create and delete your own; a programme's
    presets are managed by its admins on its pages."""

    serializer_class = PresetSerializer
    token_scopes = {"GET": "read", "HEAD": "read", "OPTIONS": "read", "POST": "generate", "DELETE": "generate"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Preset.objects.none()
        return presets.presets_for(self.request.user)

    def perform_create(self, serializer):
        settings = {field: serializer.validated_data.get(field) for field in Preset.SETTINGS}
        try:
            serializer.instance = presets.preset_create(
                name=serializer.validated_data["name"], settings=settings, owner=self.request.user,
                actor=self.request.user,
            )  # fmt: skip
        except DjangoValidationError as error:
            raise exceptions.ValidationError(error.message_dict) from error

    def perform_destroy(self, instance):
        if not presets.may_manage_preset(self.request.user, instance) or instance.is_shared:
            raise exceptions.PermissionDenied(
                "This preset is shared by a programme; its admins manage it on the programme's pages."
            )
        presets.preset_delete(preset=instance, actor=self.request.user)
