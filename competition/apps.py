from django.apps import AppConfig


class CompetitionConfig(AppConfig):
    name = "competition"
    verbose_name = "Competition"

    def ready(self):
        from competition import exports  # noqa: F401 (adds the competition's sections to a person's data export)
