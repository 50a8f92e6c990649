from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self):
        # Connects the receivers (the standing's among them), registers the API scheme, the export's own sections
        # (before any other app's) and the deployment checks.
        from access import api_auth, checks, export, signals, standing  # noqa: F401
