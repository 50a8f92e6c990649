"""POST /api/v1/traces/: trace uploaded clips, for a trust-and-safety team's scripts. Programme admins only
(with a session, or an API token with the `trace` scope); like the trace page, a job found in a programme
the caller does not administer is reported as found elsewhere, without the job or the person."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, views
from rest_framework.response import Response

from access.api_auth import StaffTwoFactor, TokenHasScope
from access.audit import client_ip
from access.policy import is_programme_admin
from core.input_checks import CheckedInput
from core.parsers import RequestTooLarge
from core.schema import ErrorSerializer
from generation import trace
from generation.trace_views import outcome_visible

# Multipart framing (boundaries, part headers) on top of the files themselves.
_FRAMING_BYTES = 64 * 1024


class IsProgrammeAdminForTrace(permissions.BasePermission):
    """Only programme admins (of at least one programme) and site administrators may trace clips."""

    message = "Only programme admins can trace clips."

    def has_permission(self, request, view):
        return is_programme_admin(request.user)


class TraceRequestSerializer(CheckedInput, serializers.Serializer):
    file = serializers.ListField(
        child=serializers.FileField(),
        help_text=(
            f"One or more clips (MP4, MOV or WebM), each a `file` part: at most {trace.MAX_FILES}, each up to "
            f"{trace.MAX_BYTES // 2**20} MB, {trace.MAX_TOTAL_BYTES // 2**20} MB in all."
        ),
    )


class TracedJobSerializer(CheckedInput, serializers.Serializer):
    id = serializers.UUIDField()
    job_code = serializers.CharField()
    person = serializers.EmailField(source="owner.email")
    display_name = serializers.CharField(source="owner.display_name")
    programme = serializers.CharField(source="grant.programme.slug")
    queued_at = serializers.DateTimeField()
    model_key = serializers.CharField()
    seed = serializers.IntegerField()
    mode = serializers.CharField(help_text="text_to_video, or the creative mode that made it.")
    source = serializers.UUIDField(
        source="source_id", allow_null=True, help_text="The clip it was made from (extend, restyle, upscale)."
    )
    image = serializers.UUIDField(source="image_id", allow_null=True, help_text="The uploaded start image.")
    last_image = serializers.UUIDField(source="last_image_id", allow_null=True, help_text="The uploaded last frame.")


class CredentialsSerializer(CheckedInput, serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["valid", "untrusted", "expired", "tampered", "absent"],
        help_text="What the clip's Content Credentials (C2PA manifest) say, validated against this site's trust "
        "anchors.",
    )
    description = serializers.CharField(source="describe")


class TraceSerializer(CheckedInput, serializers.Serializer):
    filename = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=["found", "found_elsewhere", "no_mark", "unknown_code", "unreadable"],
        help_text=(
            "`found`: the job is below. `found_elsewhere`: a job in a programme you do not administer. `no_mark`: "
            "no mark could be read. `unknown_code`: a mark that names no job here. `unreadable`: see `error`."
        ),
    )
    error = serializers.CharField(allow_blank=True)
    job = TracedJobSerializer(allow_null=True)
    credentials = CredentialsSerializer(allow_null=True)
    identified_by = serializers.CharField(
        allow_blank=True, help_text="What named the job: `mark`, `credentials` or `mark and credentials`."
    )
    frames_read = serializers.IntegerField(allow_null=True)
    sync_score = serializers.FloatField(allow_null=True)


class TracesSerializer(CheckedInput, serializers.Serializer):
    traces = TraceSerializer(many=True)


def trace_answer(user, traced) -> dict:
    result = traced.result
    if result is None:
        return {
            "filename": traced.filename,
            "outcome": "unreadable",
            "error": traced.error,
            "job": None,
            "credentials": None,
            "identified_by": "",
            "frames_read": None,
            "sync_score": None,
        }
    visible = outcome_visible(user, traced)
    outcome = result.status if not result.found else ("found" if visible else "found_elsewhere")
    return {
        "filename": traced.filename,
        "outcome": outcome,
        "error": "",
        "job": result.job if visible else None,
        "credentials": result.credentials,
        "identified_by": result.identified_by if visible else "",
        "frames_read": result.frames_read,
        "sync_score": round(result.sync_score, 2),
    }


class TraceView(views.APIView):
    """Trace leaked clips: which job, person and time each came from. Every file is traced on its own and
    recorded in the audit trail."""

    permission_classes = [permissions.IsAuthenticated, TokenHasScope, StaffTwoFactor, IsProgrammeAdminForTrace]
    token_scopes = {"POST": "trace"}

    @extend_schema(
        operation_id="traces_create",
        request={"multipart/form-data": TraceRequestSerializer},
        responses={
            200: TracesSerializer,
            400: OpenApiResponse(
                description="No file, too many, a file that is not a video, or none that could be read; nothing "
                "was traced.",
            ),
            413: OpenApiResponse(ErrorSerializer, description="A file or the whole upload is over the limits."),
        },
        examples=[
            OpenApiExample(
                "One clip traced",
                response_only=True,
                value={
                    "traces": [
                        {
                            "filename": "leak.mp4",
                            "outcome": "found",
                            "error": "",
                            "job": {
                                "id": "0b6c8a1e-6d1f-4c59-9d0e-5b7f0e2a9c11",
                                "job_code": "3ZK9QWA",
                                "person": "ana@example.org",
                                "display_name": "Ana",
                                "programme": "alpha",
                                "queued_at": "2026-12-01T10:00:00Z",
                                "model_key": "ltx-video",
                                "seed": 42,
                            },
                            "credentials": {"status": "absent", "description": "No Content Credentials."},
                            "identified_by": "mark",
                            "frames_read": 49,
                            "sync_score": 12.3,
                        }
                    ]
                },
            )
        ],
    )
    def post(self, request):
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > trace.MAX_TOTAL_BYTES + _FRAMING_BYTES:
            raise RequestTooLarge(
                f"The upload is {length / 2**20:.0f} MB; at most {trace.MAX_TOTAL_BYTES // 2**20} MB of clips can "
                "be traced at once."
            )
        uploads = request.FILES.getlist("file")
        if not uploads:
            raise exceptions.ValidationError(
                {"file": ["Send one or more clips as multipart/form-data parts named file."]}
            )
        try:
            trace.uploads_check(uploads)
        except ValidationError as error:
            if error.code == "too_large":
                raise RequestTooLarge(" ".join(error.messages)) from None
            raise exceptions.ValidationError({"file": error.messages}) from None
        files = [(upload.name, upload.read) for upload in uploads]
        traced = trace.traces_run(files, actor=request.user, ip=client_ip(request))
        answers = [trace_answer(request.user, outcome) for outcome in traced]
        if all(answer["outcome"] == "unreadable" for answer in answers):
            raise exceptions.ValidationError({"file": [f"{a['filename']}: {a['error']}" for a in answers]})
        return Response(TracesSerializer({"traces": answers}).data)
