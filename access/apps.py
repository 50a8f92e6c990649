from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self):
        from access import api_auth, signals  # noqa: F401 (connects the receivers, registers the API scheme)
