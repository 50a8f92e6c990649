import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.urls import reverse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, pagination, parsers, serializers, status, views, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from access import leaks
from access.api_auth import READ_ONLY_SCOPES
from access.policy import current_grant, may_render
from core.input_checks import TEXT_AREA, CheckedForm, CheckedInput
from core.schema import ErrorSerializer
from generation import estimates, gallery, job_actions, library, presets, quota, render_settings, submission
from generation.inputs import IMAGE_MAX_BYTES, IMAGE_MAX_SIDE, image_store
from generation.media import media_url
from generation.models import Collection, Favourite, InputImage, Preset, RenderJob
from generation.registry import MODE_INPUTS, MODE_LABELS, MODELS, TEXT_TO_VIDEO, model_choices
from generation.remix import remix_request
from generation.render_settings import REQUEST_FIELDS, SEED_MAX, RenderSettings

# Services' refusals (quota, idempotency, rate limit) rise from the views; generation.apps registers their
# answers with core.api_errors, the API's one exception handler.


DERIVED_KEPT = "derived_kept"


def derived_prefetch(through: str = "") -> Prefetch:
    """One query for every listed job's derived clips (not deleted), not one per job, kept as a plain list on each
    job (no related manager and queryset built per job to read it)."""
    kept = RenderJob.objects.filter(deleted_at__isnull=True).only("id", "source_id")
    return Prefetch(f"{through}derived", queryset=kept, to_attr=DERIVED_KEPT)


class RenderJobSerializer(CheckedInput, serializers.ModelSerializer):
    video_url = serializers.SerializerMethodField()
    poster_url = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    estimated_start_at = serializers.SerializerMethodField()
    elapsed_seconds = serializers.SerializerMethodField()
    estimated_finish_at = serializers.SerializerMethodField()
    stage = serializers.CharField(
        read_only=True,
        help_text="While running, after the denoising steps: decoding, marking, encoding, signing or storing.",
    )
    progress_percent = serializers.SerializerMethodField(
        help_text="The share of the job's expected time gone by, including the work after the denoising steps."
    )
    derived = serializers.SerializerMethodField(help_text="Your clips made from this one (extended, restyled...).")
    favourite = serializers.SerializerMethodField(
        help_text="Whether you starred the clip (POST or DELETE /api/v1/jobs/{id}/favourite/)."
    )

    class Meta:
        model = RenderJob
        fields = [
            "id",
            *REQUEST_FIELDS,
            "mode",
            *MODE_INPUTS,
            "derived",
            "favourite",
            "state",
            "progress_step",
            "progress_total",
            "progress_percent",
            "stage",
            "held",
            "error",
            "queued_at",
            "started_at",
            "finished_at",
            "gpu_seconds",
            "encode_seconds",
            "charged_seconds",
            "video_url",
            "poster_url",
            "queue_position",
            "estimated_start_at",
            "elapsed_seconds",
            "estimated_finish_at",
        ]
        read_only_fields = fields

    def get_favourite(self, job) -> bool:
        starred = getattr(job, "is_favourite", None)  # lists read it with the jobs (library.jobs_with_favourite)
        return Favourite.objects.filter(job=job).exists() if starred is None else starred

    def get_derived(self, job) -> list[str]:
        kept = getattr(job, DERIVED_KEPT, None)  # lists read them with the jobs (derived_prefetch)
        if kept is None:
            kept = [derived for derived in job.derived.all() if derived.deleted_at is None]
        return [str(derived.pk) for derived in kept]

    def _estimate(self, job) -> tuple:
        """(queue position, expected start): from the list's batch where there is one, else for this job."""
        batch = self.context.get("queue_estimates")
        if batch is not None:
            return batch.get(job.pk, (None, None))
        position = estimates.queue_position(job)
        return position, estimates.estimated_start(job, position)

    def _progress(self, job) -> dict:
        if not hasattr(job, "_progress"):  # asked by five fields; one computation serves them all
            position, start = self._estimate(job)
            finish = estimates.estimated_finish(job)
            job._progress = estimates.progress_fields(job, finish=finish, position=position, start=start)
        return job._progress

    def get_queue_position(self, job) -> int | None:
        return self._progress(job)["queue_position"]

    def get_estimated_start_at(self, job) -> str | None:
        return self._progress(job)["estimated_start_at"]

    def get_elapsed_seconds(self, job) -> float | None:
        return self._progress(job)["elapsed_seconds"]

    def get_estimated_finish_at(self, job) -> str | None:
        return self._progress(job)["estimated_finish_at"]

    def get_progress_percent(self, job) -> int:
        return self._progress(job)["progress_percent"]

    def _absolute(self, url: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_video_url(self, job) -> str | None:
        if job.state != RenderJob.State.SUCCEEDED or not job.output:
            return None
        return self._absolute(media_url(job))

    def get_poster_url(self, job) -> str | None:
        if job.state != RenderJob.State.SUCCEEDED or not job.poster:
            return None
        return self._absolute(media_url(job, poster=True))


class RenderJobCreateSerializer(CheckedInput, serializers.Serializer):
    """The shape of a new job; the rules it must meet live in generation.render_settings."""

    prompt = serializers.CharField(style=TEXT_AREA, allow_blank=True, trim_whitespace=True)
    negative_prompt = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, default="")
    model_key = serializers.ChoiceField(choices=model_choices())
    num_frames = serializers.IntegerField(min_value=1)
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)
    num_steps = serializers.IntegerField(min_value=1)
    guidance_scale = serializers.FloatField()
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=SEED_MAX, default=None)
    mode = serializers.ChoiceField(
        choices=list(MODE_LABELS.items()),
        default=TEXT_TO_VIDEO,
        help_text="What the clip starts from; GET /api/v1/models/ lists each model's modes and their inputs.",
    )
    image = serializers.UUIDField(
        required=False, default=None, help_text="image_to_video, keyframes: an id from POST /api/v1/uploads/."
    )
    last_image = serializers.UUIDField(
        required=False, default=None, help_text="keyframes: the last frame, an id from POST /api/v1/uploads/."
    )
    source = serializers.UUIDField(
        required=False,
        default=None,
        help_text="extend, restyle, upscale: one of your finished clips, made with the same model. Extend keeps "
        "its size; restyle its size and length; upscale its length at twice its width and height.",
    )
    strength = serializers.FloatField(
        required=False, default=None, help_text="restyle: 0.05 (close to the source) to 1 (a new clip)."
    )

    def validate(self, attrs):
        render = {name: attrs[name] for name in REQUEST_FIELDS}
        errors = render_settings.job_validate(**render, grant=current_grant(self.context["request"].user))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class RenderJobRemixSerializer(CheckedInput, serializers.Serializer):
    """What to change in a remix of one of your clips; every field is optional and defaults to the clip's own,
    except the seed, which is new unless keep_seed is true."""

    prompt = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, trim_whitespace=True)
    negative_prompt = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True)
    model_key = serializers.ChoiceField(choices=model_choices(), required=False)
    num_frames = serializers.IntegerField(min_value=1, required=False)
    width = serializers.IntegerField(min_value=1, required=False)
    height = serializers.IntegerField(min_value=1, required=False)
    num_steps = serializers.IntegerField(min_value=1, required=False)
    guidance_scale = serializers.FloatField(required=False)
    seed = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=SEED_MAX,
        help_text="A seed of your choosing; leave it out (or null) for a new random one.",
    )
    keep_seed = serializers.BooleanField(
        required=False, default=False, help_text="Render with the clip's own seed instead of a new one."
    )

    def validate(self, attrs):
        if attrs.get("keep_seed") and attrs.get("seed") is not None:
            raise serializers.ValidationError({"seed": ["Either keep the clip's seed or send another, not both."]})
        return attrs


class RenderJobFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=RenderJob.State.choices)
    model_key = filters.ChoiceFilter(choices=model_choices)
    created_after = filters.IsoDateTimeFilter(
        field_name="queued_at", lookup_expr="gte", help_text="Jobs queued at or after this time (ISO 8601)."
    )
    created_before = filters.IsoDateTimeFilter(
        field_name="queued_at", lookup_expr="lt", help_text="Jobs queued before this time (ISO 8601)."
    )
    search = filters.CharFilter(
        field_name="prompt", lookup_expr="icontains", max_length=200, help_text="Text in the prompt."
    )
    favourite = filters.ChoiceFilter(
        choices=[("true", "Starred"), ("false", "Not starred")],
        method="filter_favourite",
        help_text="Only the clips you starred (true), or only the others (false).",
    )

    class Meta:
        model = RenderJob
        fields = ["state", "model_key", "created_after", "created_before", "search", "favourite"]
        form = CheckedForm

    def filter_favourite(self, queryset, name, value):
        return queryset.filter(is_favourite=value == "true")


class JobCursorPagination(pagination.CursorPagination):
    """Newest first, cut at a (queued_at, id) position, never at an offset, so pages neither repeat
    nor skip jobs while new ones are submitted. DRF's own cursor keeps an offset among equal
    timestamps, which a new job shifts; this one uses the same keyset as the gallery."""

    ordering = ("-queued_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        try:
            self.page = gallery.keyset_page(
                queryset, cursor=request.query_params.get(self.cursor_query_param, ""), size=self.page_size
            )
        except gallery.BadCursor as error:
            raise exceptions.ValidationError({self.cursor_query_param: [str(error)]}) from None
        return self.page.jobs

    def _link(self, cursor: str | None) -> str | None:
        return None if cursor is None else replace_query_param(self.base_url, self.cursor_query_param, cursor)

    def get_next_link(self):
        return self._link(self.page.older)

    def get_previous_link(self):
        return self._link(self.page.newer)


class ClipNotFinished(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Only finished clips can be starred or collected."
    default_code = "clip_not_finished"


class RenderJobViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your render jobs. Nobody else's jobs are listed or found, nor any you deleted."""

    serializer_class = RenderJobSerializer
    token_scopes = {**READ_ONLY_SCOPES, "POST": "generate", "DELETE": "generate"}
    filterset_class = RenderJobFilter
    pagination_class = JobCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return RenderJob.objects.none()
        return library.jobs_with_favourite(gallery.jobs_for(self.request.user)).prefetch_related(derived_prefetch())

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "queue_estimates": estimates.queue_estimates(page)}
        return self.get_paginated_response(RenderJobSerializer(page, many=True, context=context).data)

    @extend_schema(
        description="Delete a clip: a job still waiting or running is cancelled (and refunded) first, the video "
        "and poster are removed, and media links stop working. The GPU seconds it used stay counted.",
        responses={204: None},
    )
    def destroy(self, request, *args, **kwargs):
        job_actions.job_delete(job=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=RenderJobCreateSerializer,
        responses={
            201: RenderJobSerializer,
            200: OpenApiResponse(RenderJobSerializer, description="The job an earlier request with this key made."),
            409: OpenApiResponse(ErrorSerializer, description="This key was used for a job with other settings."),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Send the same key again (e.g. after a timeout) to get the same job, not a second one.",
            ),
            OpenApiParameter(
                "Location",
                OpenApiTypes.URI,
                OpenApiParameter.HEADER,
                response=[201],
                required=True,
                description="The new job's URL.",
            ),
        ],
        examples=[
            OpenApiExample(
                "A short clip",
                request_only=True,
                value={
                    "prompt": "waves breaking on a dark beach",
                    "model_key": "ltx-video",
                    "num_frames": 25,
                    "width": 256,
                    "height": 192,
                    "num_steps": 4,
                    "guidance_scale": 3.0,
                    "seed": 7,
                },
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        return self._submit(request, request.data)

    def _submit(self, request, data):
        """Check ``data`` as a new job and queue it: 201 with its Location, or 200 for a replayed key."""
        incoming = RenderJobCreateSerializer(data=data, context=self.get_serializer_context())
        incoming.is_valid(raise_exception=True)
        (job,) = submission.jobs_submit(
            owner=request.user,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            credential=leaks.request_credential(request),
            via="api",
            **incoming.validated_data,
        )
        if job.replayed:
            return Response(RenderJobSerializer(job, context=self.get_serializer_context()).data)
        data = RenderJobSerializer(job, context=self.get_serializer_context()).data
        location = request.build_absolute_uri(reverse("job-detail", args=[job.pk]))
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location})

    @extend_schema(
        request=RenderJobRemixSerializer,
        responses={
            201: RenderJobSerializer,
            200: OpenApiResponse(RenderJobSerializer, description="The job an earlier request with this key made."),
        },
        description="Queue a new clip from one of yours: its prompt, settings, mode and inputs, with a new random "
        "seed unless keep_seed is true (an unchanged remix with the same seed renders, and charges for, the same "
        "clip). Any field sent replaces the clip's own. Checked and charged like POST /api/v1/jobs/; the "
        "Idempotency-Key header works the same way.",
        examples=[
            OpenApiExample("The same settings, a new seed", request_only=True, value={}),
            OpenApiExample(
                "Keep the seed, change the prompt", request_only=True, value={"prompt": "at dawn", "keep_seed": True}
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def remix(self, request, pk=None):
        clip = self.get_object()
        incoming = RenderJobRemixSerializer(data=request.data, context=self.get_serializer_context())
        incoming.is_valid(raise_exception=True)
        return self._submit(request, remix_request(clip, **incoming.validated_data))

    @extend_schema(request=None, responses={200: RenderJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        job_actions.job_cancel(job=job)
        return Response(RenderJobSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(
        methods=["POST"],
        request=None,
        description="Star one of your finished clips (starring it again changes nothing).",
        responses={
            200: RenderJobSerializer,
            409: OpenApiResponse(ErrorSerializer, description=ClipNotFinished.default_detail),
        },
    )
    @extend_schema(
        methods=["DELETE"],
        request=None,
        description="Unstar a clip (unstarring one that is not starred changes nothing).",
        responses={200: RenderJobSerializer},
    )
    @action(detail=True, methods=["post", "delete"])
    def favourite(self, request, pk=None):
        job = self.get_object()
        try:
            library.favourite_set(owner=request.user, job=job, favourite=request.method == "POST")
        except DjangoValidationError as error:
            raise ClipNotFinished(" ".join(error.messages)) from None
        job.is_favourite = request.method == "POST"
        return Response(RenderJobSerializer(job, context=self.get_serializer_context()).data)


class InputImageSerializer(CheckedInput, serializers.ModelSerializer):
    class Meta:
        model = InputImage
        fields = ["id", "format", "width", "height", "bytes", "created_at"]
        read_only_fields = fields


class UploadSerializer(CheckedInput, serializers.Serializer):
    file = serializers.FileField(
        help_text=f"A PNG, JPEG or WebP image, at most {IMAGE_MAX_BYTES // (1024 * 1024)} MB and "
        f"{IMAGE_MAX_SIDE} pixels a side (judged by its bytes, whatever its name or content type says)."
    )


class UploadView(views.APIView):
    """Upload an image to start a clip from (image_to_video) or to set its first and last frames
    (keyframes); send the returned id as a job's image or last_image. Kept privately, under a random name."""

    token_scopes = {"POST": "generate", "OPTIONS": "read"}
    # JSON is read too, so that a JSON body gets the API's usual 400 naming the missing file, not a 415.
    parser_classes = [parsers.MultiPartParser, parsers.JSONParser]

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={201: InputImageSerializer})
    def post(self, request):
        decision = may_render(request.user)
        if not decision:
            raise exceptions.PermissionDenied(decision.reason)
        incoming = UploadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        upload = incoming.validated_data["file"]
        if upload.size > IMAGE_MAX_BYTES:
            raise exceptions.ValidationError(
                {"file": [f"Images are limited to {IMAGE_MAX_BYTES // (1024 * 1024)} MB."]}
            )
        try:
            image = image_store(owner=request.user, data=upload.read())
        except DjangoValidationError as error:
            raise exceptions.ValidationError({"file": error.messages}) from None
        return Response(InputImageSerializer(image).data, status=status.HTTP_201_CREATED)


class PresetSerializer(CheckedInput, serializers.ModelSerializer):
    """A preset's shape; the model's rules it must meet live in generation.presets."""

    shared = serializers.BooleanField(source="is_shared", read_only=True)
    programme = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    model_key = serializers.ChoiceField(choices=model_choices())
    num_frames = serializers.IntegerField(min_value=1)
    width = serializers.IntegerField(min_value=1)
    height = serializers.IntegerField(min_value=1)
    num_steps = serializers.IntegerField(min_value=1)
    negative_prompt = serializers.CharField(style=TEXT_AREA, required=False, allow_blank=True, default="")
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=SEED_MAX, default=None)

    class Meta:
        model = Preset
        fields = [
            "id",
            "name",
            "shared",
            "programme",
            *RenderSettings.names(),
            "created_at",
        ]
        read_only_fields = ["id", "shared", "programme", "created_at"]
        validators: list = []  # names are checked by the service, with a clearer message


@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "A quick draft",
                request_only=True,
                value={
                    "name": "Quick draft",
                    "model_key": "ltx-video",
                    "num_frames": 25,
                    "width": 256,
                    "height": 192,
                    "num_steps": 4,
                    "guidance_scale": 3.0,
                },
            )
        ]
    )
)
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
    token_scopes = {**READ_ONLY_SCOPES, "POST": "generate", "DELETE": "generate"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Preset.objects.none()
        return presets.presets_for(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = presets.preset_create(
            name=serializer.validated_data["name"],
            settings=RenderSettings.from_mapping(serializer.validated_data),
            owner=self.request.user,
            actor=self.request.user,
        )

    def perform_destroy(self, instance):
        if not presets.may_manage_preset(self.request.user, instance) or instance.is_shared:
            raise exceptions.PermissionDenied(
                "This preset is shared by a programme; its admins manage it on the programme's pages."
            )
        presets.preset_delete(preset=instance, actor=self.request.user)


class NoGrant(exceptions.NotFound):
    default_detail = "You have no current grant for the generation service."
    default_code = "no_grant"


NO_GRANT = OpenApiResponse(ErrorSerializer, description=NoGrant.default_detail)


def _grant_or_404(user):
    grant = current_grant(user)
    if grant is None:
        raise NoGrant()
    return grant


class QuotaSerializer(CheckedInput, serializers.Serializer):
    programme = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    model_keys = serializers.ListField(child=serializers.CharField(), help_text="Models allowed; empty allows all.")
    max_frames = serializers.IntegerField()
    max_width = serializers.IntegerField()
    max_height = serializers.IntegerField()
    max_steps = serializers.IntegerField()
    downloads_allowed = serializers.BooleanField()
    gpu_seconds_per_day = serializers.IntegerField()
    gpu_seconds_total = serializers.IntegerField()
    gpu_seconds_used_today = serializers.FloatField(help_text="Settled seconds plus reservations, since midnight.")
    gpu_seconds_used_total = serializers.FloatField(help_text="Settled seconds plus reservations, all time.")
    gpu_seconds_reserved = serializers.FloatField(help_text="Estimates held by jobs still waiting or running.")
    gpu_seconds_remaining_today = serializers.FloatField()
    gpu_seconds_remaining_total = serializers.FloatField()
    max_queued_jobs = serializers.IntegerField()
    queued_jobs = serializers.IntegerField(help_text="Jobs waiting or running now.")


class QuotaView(views.APIView):
    """Your current grant: its limits, what you have used and reserved, and what is left."""

    token_scopes = READ_ONLY_SCOPES

    @extend_schema(responses={200: QuotaSerializer, 404: NO_GRANT})
    def get(self, request):
        grant = _grant_or_404(request.user)
        usage = quota.grant_usage(grant)
        left_today, left_total = quota.grant_seconds_left(grant, usage)
        data = {
            "programme": grant.programme.name,
            "starts_at": grant.starts_at,
            "ends_at": grant.ends_at,
            **grant.limits(),
            "gpu_seconds_used_today": usage["seconds_today"],
            "gpu_seconds_used_total": usage["seconds_total"],
            "gpu_seconds_reserved": usage["seconds_reserved"],
            "gpu_seconds_remaining_today": left_today,
            "gpu_seconds_remaining_total": left_total,
            "queued_jobs": usage["active_jobs"],
        }
        return Response(QuotaSerializer(data).data)


class ModelRulesSerializer(CheckedInput, serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    fps = serializers.IntegerField()
    frame_step = serializers.IntegerField(help_text="Valid frame counts are frame_step * k + 1.")
    max_frames = serializers.IntegerField(help_text="The model's limit or your grant's, whichever is lower.")
    frame_counts = serializers.CharField(help_text="The frame-count rule in words.")
    size_multiple = serializers.IntegerField()
    min_size = serializers.IntegerField()
    max_width = serializers.IntegerField()
    max_height = serializers.IntegerField()
    min_steps = serializers.IntegerField()
    max_steps = serializers.IntegerField()
    max_guidance = serializers.FloatField()
    defaults = serializers.DictField(help_text="num_frames, width, height, num_steps, guidance_scale.")
    gpu_seconds_fixed = serializers.FloatField()
    gpu_seconds_per_unit = serializers.FloatField()
    gpu_seconds_formula = serializers.CharField()
    modes = serializers.ListField(
        child=serializers.DictField(),
        help_text="The modes it renders: key, label, pipeline and inputs (image, last_image, source, strength).",
    )


class ModelViewSet(viewsets.ViewSet):
    """The models your grant allows, with the rules a job's settings must meet (already narrowed to
    your grant's limits) and the inputs of the GPU-seconds estimate a job reserves."""

    token_scopes = READ_ONLY_SCOPES

    @extend_schema(responses={200: ModelRulesSerializer(many=True), 404: NO_GRANT})
    def list(self, request):
        grant = _grant_or_404(request.user)
        rules = [_model_rules(spec, grant) for spec in MODELS.values() if grant.allows_model(spec.key)]
        return Response(ModelRulesSerializer(rules, many=True).data)


ESTIMATE_FORMULA = "gpu_seconds_fixed + gpu_seconds_per_unit * num_frames * width * height * num_steps / 1e6"


def _model_rules(spec, grant) -> dict:
    limits = spec.limits_within(grant)
    max_frames = limits["max_frames"]
    return {
        "key": spec.key,
        "label": spec.label,
        "fps": spec.fps,
        "frame_step": spec.frame_step,
        "max_frames": max_frames - (max_frames - 1) % spec.frame_step,  # the largest valid count within both
        "frame_counts": spec.frame_counts_hint(),
        "size_multiple": spec.size_multiple,
        "min_size": spec.min_size,
        "max_width": limits["max_width"],
        "max_height": limits["max_height"],
        "min_steps": spec.min_steps,
        "max_steps": limits["max_steps"],
        "max_guidance": spec.max_guidance,
        "defaults": spec.default_settings(),
        "gpu_seconds_fixed": spec.fixed_seconds,
        "gpu_seconds_per_unit": spec.seconds_per_unit,
        "gpu_seconds_formula": ESTIMATE_FORMULA,
        "modes": [
            {"key": TEXT_TO_VIDEO, "label": MODE_LABELS[TEXT_TO_VIDEO], "pipeline": spec.pipeline_class, "inputs": []},
            *(
                {"key": mode.key, "label": mode.label, "pipeline": mode.pipeline_class, "inputs": list(mode.inputs)}
                for mode in spec.modes
            ),
        ],
    }


# --- The library: collections (favourites are POST/DELETE /api/v1/jobs/{id}/favourite/) -------------


class CollectionSerializer(CheckedInput, serializers.ModelSerializer):
    """A collection's shape; the rules its name must meet (unique for you, whatever the case) live in
    generation.library."""

    name = serializers.CharField(max_length=library.NAME_MAX_LENGTH)
    clip_count = serializers.IntegerField(read_only=True, help_text="How many of your clips it holds.")

    class Meta:
        model = Collection
        fields = ["id", "name", "clip_count", "created_at", "updated_at"]
        read_only_fields = ["id", "clip_count", "created_at", "updated_at"]
        validators: list = []  # names are checked by the service, with a clearer message


class CollectionClipSerializer(CheckedInput, serializers.Serializer):
    job = serializers.UUIDField(help_text="One of your finished clips.")


class CollectionClipsPagination(pagination.CursorPagination):
    """A collection's clips, the latest added first."""

    ordering = ("-added_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100


def _own_clip(user, job_id) -> RenderJob:
    job = gallery.jobs_for(user).filter(pk=job_id).first()
    if job is None:  # someone else's clip answers like one that does not exist
        raise exceptions.ValidationError({"job": ["No such clip of yours."]})
    return job


class CollectionViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your collections: named groups of your finished clips, private to you. Nobody else's are listed or found."""

    serializer_class = CollectionSerializer
    pagination_class = None  # a person keeps at most library.COLLECTIONS_MAX
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    token_scopes = {**READ_ONLY_SCOPES, "POST": "generate", "PATCH": "generate", "DELETE": "generate"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Collection.objects.none()
        return library.collections_for(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = library.collection_create(owner=self.request.user, name=serializer.validated_data["name"])
        serializer.instance.clip_count = 0

    def perform_update(self, serializer):
        if "name" in serializer.validated_data:
            library.collection_rename(collection=serializer.instance, name=serializer.validated_data["name"])

    def perform_destroy(self, instance):
        library.collection_delete(collection=instance)

    @extend_schema(
        methods=["GET"],
        description="The collection's clips, the latest added first.",
        responses={200: RenderJobSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        description="Put one of your finished clips in the collection.",
        request=CollectionClipSerializer,
        responses={
            201: CollectionSerializer,
            200: OpenApiResponse(CollectionSerializer, description="The clip was in the collection already."),
        },
    )
    @action(detail=True, methods=["get", "post"], pagination_class=CollectionClipsPagination)
    def clips(self, request, pk=None):
        collection = self.get_object()
        if request.method == "POST":
            incoming = CollectionClipSerializer(data=request.data)
            incoming.is_valid(raise_exception=True)
            job = _own_clip(request.user, incoming.validated_data["job"])
            created = library.collection_add(collection=collection, job=job)
            collection = self.get_queryset().get(pk=collection.pk)
            code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
            return Response(CollectionSerializer(collection).data, status=code)
        items = self.paginate_queryset(library.collection_items(collection).prefetch_related(derived_prefetch("job__")))
        context = {**self.get_serializer_context(), "queue_estimates": {}}  # finished clips wait in no queue
        data = RenderJobSerializer(library.item_jobs(items), many=True, context=context).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=None,
        responses={204: None},
        description="Take a clip out of the collection.",
        parameters=[OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The clip's id.")],
    )
    @action(detail=True, methods=["delete"], url_path=r"clips/(?P<job_id>[^/.]+)", url_name="clip")
    def clip_remove(self, request, pk=None, job_id=None):
        collection = self.get_object()
        try:
            removed = library.collection_remove(collection=collection, job_id=uuid.UUID(job_id))
        except ValueError:
            removed = False
        if not removed:
            raise exceptions.NotFound("That clip is not in this collection.")
        return Response(status=status.HTTP_204_NO_CONTENT)
