from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from generation.trace import MAX_BYTES, NO_MARK, trace_clip


class Command(BaseCommand):
    help = (
        "Trace a leaked clip: read its invisible mark and print the job, the person and the time it was made, "
        "or 'No mark found.' (exit status 1). The trace is recorded in the audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The clip (MP4, MOV or WebM).")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}", returncode=2)
        if path.stat().st_size > MAX_BYTES:
            raise CommandError(f"{file} is larger than {MAX_BYTES // 2**20} MB; trace a shorter excerpt.", returncode=2)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.", returncode=2) from None
        try:
            result = trace_clip(data, filename=path.name)
        except ValidationError as error:
            raise CommandError(f"{file}: {' '.join(error.messages)}", returncode=2) from None
        self.stdout.write(f"C2PA:      {result.credentials.status}: {result.credentials.describe()}")
        if not result.found:
            raise CommandError(
                f"{result.message if result.status == 'unknown_code' else NO_MARK} "
                f"(sync {result.sync_score:.1f}, {result.frames_read} frames read)",
                returncode=1,
            )
        job = result.job
        self.stdout.write(self.style.SUCCESS(f"Job code {job.job_code}, identified by the {result.identified_by}"))
        self.stdout.write(f"Job:       {job.pk}")
        self.stdout.write(f"Person:    {job.owner.email} ({job.owner.display_name or 'no display name'})")
        self.stdout.write(f"Programme: {job.grant.programme.name}")
        self.stdout.write(f"Queued:    {timezone.localtime(job.queued_at):%Y-%m-%d %H:%M:%S %Z}")
        self.stdout.write(f"Model:     {job.model_key}, seed {job.seed}")
        reading = f"scale {result.scale:.3g}, sync {result.sync_score:.1f}, {result.frames_read} frames"
        self.stdout.write(f"Read:      {reading}")
