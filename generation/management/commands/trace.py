from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from generation.models import job_code
from generation.trace import MAX_BYTES, clip_kind, traces_run

COLUMNS = ("file", "outcome", "job_code", "person", "programme", "queued", "c2pa", "identified_by")
NOT_TRACED, UNREADABLE = 1, 2


def _load(path: Path):
    def load() -> bytes:
        if not path.is_file():
            raise ValidationError("No such file.")
        if path.stat().st_size > MAX_BYTES:
            raise ValidationError(f"It is larger than {MAX_BYTES // 2**20} MB; trace a shorter excerpt.")
        return path.read_bytes()

    return load


def _is_video(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return clip_kind(handle.read(12)) is not None
    except OSError:
        return True  # named in the listing but unreadable: traced, so that it is reported as unreadable


class Command(BaseCommand):
    help = (
        "Trace leaked clips: read each one's invisible mark and Content Credentials, and print one tab-separated line "
        "per file: file, outcome (found, no_mark, unknown_code, unreadable), job code, person, programme, time "
        "queued, C2PA status (valid, untrusted, expired, tampered, absent), and what identified the job (mark, "
        "credentials, or both). Folders are searched recursively; files in them that are not MP4, MOV or "
        "WebM (judged by content) are skipped with a line saying so. Exit status: 0 if every file was traced to "
        "a job, 1 if any had no mark (or a mark naming no job here), 2 if any could not be read. Every trace is "
        "recorded in the audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="path", help="Clips (MP4, MOV or WebM) or folders of them.")

    def _files(self, paths: list[str]):
        for name in paths:
            path = Path(name)
            if not path.is_dir():
                yield name, _load(path)  # named on the command line: traced, or reported unreadable
                continue
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if _is_video(child):
                    yield str(child), _load(child)
                else:
                    self.stdout.write(f"{child}\tskipped\tnot an MP4, MOV or WebM video")

    def handle(self, *args, paths, **options):
        self.stdout.write("\t".join(COLUMNS))
        outcomes = []
        for traced in traces_run(self._files(paths), actor=None):
            outcomes.append(traced)
            self.stdout.write(self._line(traced))
        if len(outcomes) == 1 and outcomes[0].result and outcomes[0].result.found:
            self._details(outcomes[0].result)
        if not outcomes:
            raise CommandError("No video files found.", returncode=UNREADABLE)
        unreadable = [o for o in outcomes if o.result is None]
        not_traced = [o for o in outcomes if o.result and not o.result.found]
        summary = f"{len(outcomes) - len(unreadable) - len(not_traced)} of {len(outcomes)} traced to a job"
        if unreadable:
            errors = "; ".join(f"{o.filename}: {o.error}" for o in unreadable[:5])
            raise CommandError(f"Could not read {len(unreadable)} ({errors}); {summary}.", returncode=UNREADABLE)
        if not_traced:
            raise CommandError(f"No mark found in {len(not_traced)}; {summary}.", returncode=NOT_TRACED)
        self.stdout.write(self.style.SUCCESS(summary + "."))

    def _line(self, traced) -> str:
        result = traced.result
        if result is None:
            return f"{traced.filename}\tunreadable\t{traced.error}"
        job = result.job
        fields = [traced.filename, result.status, "-", "-", "-", "-", result.credentials.status, "-"]
        if job:
            queued = f"{timezone.localtime(job.queued_at):%Y-%m-%d %H:%M:%S %Z}"
            fields[2:6] = [job.job_code, job.owner.email, job.grant.programme.name, queued]
            fields[7] = result.identified_by.replace(" ", "_")
        elif result.status == "unknown_code":
            fields[2] = job_code(result.code)
        return "\t".join(fields)

    def _details(self, result) -> None:
        job = result.job
        self.stdout.write(f"C2PA:      {result.credentials.status}: {result.credentials.describe()}")
        self.stdout.write(self.style.SUCCESS(f"Job code {job.job_code}, identified by the {result.identified_by}"))
        self.stdout.write(f"Job:       {job.pk}")
        self.stdout.write(f"Person:    {job.owner.email} ({job.owner.display_name or 'no display name'})")
        self.stdout.write(f"Programme: {job.grant.programme.name}")
        self.stdout.write(f"Queued:    {timezone.localtime(job.queued_at):%Y-%m-%d %H:%M:%S %Z}")
        self.stdout.write(f"Model:     {job.model_key}, seed {job.seed}")
        reading = f"scale {result.scale:.3g}, sync {result.sync_score:.1f}, {result.frames_read} frames"
        self.stdout.write(f"Read:      {reading}")
