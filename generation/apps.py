from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Generation"

    def ready(self):
        # The worker-state receivers, what generation answers and does for access, its export sections,
        # the system check of the C2PA signing key.
        from generation import credentials, exports, receivers, signals  # noqa: F401

        _api_errors_register()


def _api_errors_register() -> None:
    """How the API answers the submission's refusals, wherever a view lets one rise (core.api_errors)."""
    from rest_framework import exceptions, status

    from core.api_errors import api_error
    from core.ratelimits import RateLimited
    from generation.quota import QuotaExceeded
    from generation.submission import IdempotencyConflict

    api_error(QuotaExceeded, status_code=status.HTTP_403_FORBIDDEN, code="quota_exceeded")
    api_error(IdempotencyConflict, status_code=status.HTTP_409_CONFLICT, code="idempotency_conflict")
    api_error(RateLimited, translate=lambda error: exceptions.Throttled(wait=error.retry_after, detail=str(error)))
