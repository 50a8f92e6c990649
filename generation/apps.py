from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Generation"

    def ready(self):
        # The worker-state receivers, what generation answers and does for access, its export sections.
        from generation import exports, receivers, signals  # noqa: F401
