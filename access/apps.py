from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self):
        # Connects the receivers, registers the API scheme and the export's own sections (before any other app's).
        from access import api_auth, export, signals  # noqa: F401
