from django.core.management.base import BaseCommand, CommandError

from generation.registry import MODELS, model_get


class Command(BaseCommand):
    help = "Build the smoke model (tiny random weights, no download) for one model or all of them."

    def add_arguments(self, parser):
        parser.add_argument("models", nargs="*", help=f"Model keys (default: all). Known: {', '.join(MODELS)}.")
        parser.add_argument("--if-missing", action="store_true", help="Skip models whose smoke build exists.")

    def handle(self, *args, models, if_missing, **options):
        from generation.smoke import smoke_build, smoke_present

        unknown = [key for key in models if key not in MODELS]
        if unknown:
            raise CommandError(f"Unknown model {', '.join(unknown)}. Known: {', '.join(MODELS)}.")
        for key in models or list(MODELS):
            spec = model_get(key)
            if if_missing and smoke_present(model_key=key, folder=spec.smoke_folder):
                self.stdout.write(f"{key}: smoke build present at {spec.smoke_folder}")
                continue
            smoke_build(model_key=key, folder=spec.smoke_folder)
            self.stdout.write(self.style.SUCCESS(f"{key}: smoke build written to {spec.smoke_folder}"))
