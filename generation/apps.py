from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Generation"

    def ready(self):
        from generation import signals  # noqa: F401 (connects the worker-state receivers)
