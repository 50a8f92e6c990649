from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback"

    def ready(self):
        from feedback import exports  # noqa: F401 (adds feedback's sections to a person's data export)
