"""Staff API endpoints. They accept signed-in sessions only, never API tokens."""

from rest_framework import permissions, serializers, viewsets

from access.api_auth import SessionOnly
from access.models import AuditEvent, Membership, Role
from core.input_checks import CheckedInput


class IsProgrammeAdmin(permissions.BasePermission):
    """Only programme admins (of at least one programme) may use this endpoint."""

    message = "Only programme admins can read the audit trail."

    def has_permission(self, request, view):
        user = request.user
        return user.is_superuser or Membership.objects.filter(user=user, role=Role.ADMIN).exists()


class AuditEventSerializer(CheckedInput, serializers.ModelSerializer):
    actor = serializers.StringRelatedField(allow_null=True)
    subject = serializers.StringRelatedField(allow_null=True)
    programme = serializers.StringRelatedField(allow_null=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "action", "actor", "subject", "programme", "target", "reason", "ip", "data"]


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail of the programmes you administer (read-only)."""

    serializer_class = AuditEventSerializer
    permission_classes = [permissions.IsAuthenticated, SessionOnly, IsProgrammeAdmin]
    filterset_fields = ["action"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        events = AuditEvent.objects.select_related("actor", "subject", "programme")
        if self.request.user.is_superuser:
            return events
        programmes = Membership.objects.filter(user=self.request.user, role=Role.ADMIN).values("programme")
        return events.filter(programme__in=programmes)
