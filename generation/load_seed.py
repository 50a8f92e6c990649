"""Benchmark data: a programme of many testers with a very large history of render jobs, for
bench/big_data.py and bench/load.py. Written straight into the tables (COPY on PostgreSQL, bulk
inserts elsewhere) because a million jobs through job_create would take hours; every row is one
the services could have written, and each membership and grant has its audit record.

Seeded accounts all live under SEED_DOMAIN, so a database holding anything else is easy to tell
apart (and refused, unless forced)."""

from __future__ import annotations

import math
import random
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from access.models import AuditEvent, Cohort, Grant, Membership, Programme, Role
from generation.models import MARK_CODE_BITS, RenderJob
from generation.registry import MODELS

SEED_DOMAIN = "load-seed.invalid"
SEED_PROGRAMME = "load-seed"
STAFF_EMAIL = f"staff@{SEED_DOMAIN}"
DEFAULT_PASSWORD = "load-seed-password"  # noqa: S105 (benchmark accounts in a benchmark database)
COHORT_SIZE = 1000
HISTORY_DAYS = 365
# Generous limits: the load benchmark submits many jobs that stay queued (no worker runs).
COHORT_LIMITS = {
    "max_frames": 257,
    "max_width": 1280,
    "max_height": 1280,
    "max_steps": 100,
    "gpu_seconds_per_day": 10**7,
    "gpu_seconds_total": 10**9,
    "max_queued_jobs": 10_000,
}
# Share of each state among seeded jobs; waiting and running jobs are few and recent, as on a real queue.
STATE_WEIGHTS = {RenderJob.State.SUCCEEDED: 0.88, RenderJob.State.FAILED: 0.06, RenderJob.State.CANCELLED: 0.06}
QUEUED_SHARE, RUNNING_MAX = 0.002, 20
SUBJECTS = [
    "a lighthouse",
    "a red fox",
    "two dancers",
    "a paper boat",
    "a neon city",
    "an old tram",
    "a glacier",
    "a koi pond",
    "a violinist",
    "a desert caravan",
    "a rainy street",
    "a hummingbird",
    "a steam engine",
]
ACTIONS = [
    "at dawn",
    "in slow motion",
    "seen from above",
    "under heavy snow",
    "in the style of a 1970s film",
    "lit by candles",
    "at golden hour",
    "through fog",
    "as a tracking shot",
    "in a thunderstorm",
]


class SeedRefused(Exception):
    """The database holds data that is not the seed's, or the arguments make no sense."""


@dataclass
class SeedReport:
    testers_created: int
    jobs_created: int
    testers_total: int
    jobs_total: int
    seconds: float


def seed_guard(*, force: bool) -> None:
    """Refuse a database with people who are not seed accounts: seeding is for benchmark databases."""
    others = get_user_model().objects.exclude(email__endswith=f"@{SEED_DOMAIN}")
    count = others.count()
    if count and not force:
        example = others.order_by("pk").values_list("email", flat=True).first()
        raise SeedRefused(
            f"This database already has {count} account(s) that are not load-seed accounts (e.g. {example}); "
            "seed_load fills a benchmark database. Point DATABASE_URL at one, or pass --force to seed this one."
        )


def seed_load(
    *,
    jobs: int,
    testers: int,
    heavy_share: float = 0.05,
    batch: int = 20_000,
    seed: int = 7,
    password: str = DEFAULT_PASSWORD,
    force: bool = False,
    log=None,
) -> SeedReport:
    """Top the seed programme up to ``testers`` testers and ``jobs`` jobs (running it again with the
    same numbers adds nothing). The first tester is the heavy one: ``heavy_share`` of all jobs are theirs."""
    if jobs < 0 or testers < 0:
        raise SeedRefused("--jobs and --testers cannot be negative.")
    if jobs and not testers:
        raise SeedRefused("Jobs need an owner: --testers must be at least 1 when --jobs is more than 0.")
    if not 0 <= heavy_share < 1:
        raise SeedRefused(f"--heavy-share must be from 0 to less than 1, not {heavy_share}.")
    if batch < 1:
        raise SeedRefused("--batch must be at least 1.")
    seed_guard(force=force)
    log = log or (lambda message: None)
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 (repeatable benchmark data, not secrets)
    password_hash = make_password(password)  # once: hashing 10,000 passwords would take minutes
    with transaction.atomic():
        programme, cohorts = _programme(testers)
        _staff(programme, password_hash)
        testers_created = _testers(programme, cohorts, testers, password_hash)
    log(f"testers: {testers_created} created ({testers} in all) in {time.monotonic() - started:.1f} s")
    grants = list(
        Grant.objects.filter(programme=programme, user__email__startswith="tester-")
        .order_by("user__email")
        .values_list("pk", "user_id")[:testers]
    )
    existing = RenderJob.objects.filter(grant__programme=programme).count()
    missing = max(0, jobs - existing)
    created = _jobs(grants, missing, heavy_share=heavy_share, batch=batch, rng=rng, log=log) if missing else 0
    if created and connection.vendor == "postgresql":
        # The planner must know the tables are big: the jobs, the people, and each person's usage per hour that
        # the jobs' triggers filled in, not only the jobs. With UsageHour unanalyzed, the staff queue's fair-order
        # query looked costly enough for PostgreSQL to JIT-compile it: 2.6 s for a query that ran in 5 ms.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return SeedReport(testers_created, created, testers, existing + created, time.monotonic() - started)


def _programme(testers: int):
    programme, created = Programme.objects.get_or_create(
        slug=SEED_PROGRAMME, defaults={"name": "Load seed", "description": "Benchmark data (manage.py seed_load)."}
    )
    if created:
        AuditEvent.objects.create(action="access.programme_created", programme=programme, target=str(programme))
    cohorts = []
    for number in range(1, max(1, math.ceil(testers / COHORT_SIZE)) + 1):
        cohort, created = Cohort.objects.get_or_create(
            programme=programme, slug=f"load-wave-{number}", defaults={"name": f"Load wave {number}", **COHORT_LIMITS}
        )
        if created:
            AuditEvent.objects.create(
                action="access.cohort_created", programme=programme, target=str(cohort), data={"seeded": True}
            )
        cohorts.append(cohort)
    return programme, cohorts


def _staff(programme, password_hash: str) -> None:
    """A staff member with two-factor set up, for the staff queue page and the Django admin."""
    User = get_user_model()
    staff, created = User.objects.get_or_create(
        email=STAFF_EMAIL,
        defaults={"password": password_hash, "is_staff": True, "is_superuser": True, "display_name": "Load staff"},
    )
    if not created:
        return
    EmailAddress.objects.create(user=staff, email=STAFF_EMAIL, primary=True, verified=True)
    Authenticator.objects.create(user=staff, type=Authenticator.Type.TOTP, data={"secret": "load-seed"})
    Membership.objects.create(user=staff, programme=programme, role=Role.ADMIN)
    AuditEvent.objects.create(
        action="access.membership_added",
        programme=programme,
        subject=staff,
        target=STAFF_EMAIL,
        data={"role": Role.ADMIN, "seeded": True},
    )


def seed_email(number: int) -> str:
    return f"tester-{number:06d}@{SEED_DOMAIN}"


def _testers(programme, cohorts, testers: int, password_hash: str) -> int:
    User = get_user_model()
    have = set(
        User.objects.filter(email__startswith="tester-", email__endswith=f"@{SEED_DOMAIN}").values_list(
            "email", flat=True
        )
    )
    wanted = [(number, seed_email(number)) for number in range(1, testers + 1)]
    new = [(number, email) for number, email in wanted if email not in have]
    if not new:
        return 0
    users = User.objects.bulk_create(
        [User(email=email, password=password_hash, display_name=f"Tester {number}") for number, email in new],
        batch_size=2000,
    )
    users = list(User.objects.filter(pk__in=[user.pk for user in users]).order_by("email"))
    EmailAddress.objects.bulk_create(
        [EmailAddress(user=user, email=user.email, primary=True, verified=True) for user in users], batch_size=2000
    )
    memberships, grants, events = [], [], []
    for user in users:
        number = int(user.email[len("tester-") : len("tester-") + 6])
        cohort = cohorts[(number - 1) // COHORT_SIZE]
        memberships.append(Membership(user=user, programme=programme, cohort=cohort, role=Role.ARTIST))
        grants.append(Grant(user=user, programme=programme, **cohort.limits()))
        for action in ("access.membership_added", "access.grant_created"):
            events.append(
                AuditEvent(
                    action=action,
                    programme=programme,
                    subject=user,
                    target=user.email,
                    data={"cohort": cohort.name, "seeded": True},
                )
            )
    Membership.objects.bulk_create(memberships, batch_size=2000)
    Grant.objects.bulk_create(grants, batch_size=2000)
    AuditEvent.objects.bulk_create(events, batch_size=2000)
    return len(users)


def _jobs(grants, count: int, *, heavy_share: float, batch: int, rng: random.Random, log) -> int:
    """Insert ``count`` jobs for ``grants`` [(grant id, user id)], in batches, in one transaction."""
    taken = set(RenderJob.objects.values_list("mark_code", flat=True))
    codes = iter(code for code in rng.sample(range(2**MARK_CODE_BITS), count + len(taken)) if code not in taken)
    heavy = int(count * heavy_share) if len(grants) > 1 else count
    columns = list(RenderJob._meta.concrete_fields)
    now = timezone.now()
    queued_left = math.ceil(count * QUEUED_SHARE * 1.2)
    running_left = RUNNING_MAX
    done = 0
    with transaction.atomic(), _indexes_rebuilt_after():
        while done < count:
            size = min(batch, count - done)
            rows = []
            for index in range(done, done + size):
                owner = grants[0] if index < heavy or len(grants) == 1 else grants[1 + rng.randrange(len(grants) - 1)]
                if queued_left and rng.random() < QUEUED_SHARE:
                    state, queued_left = RenderJob.State.QUEUED, queued_left - 1
                elif running_left and rng.random() < RUNNING_MAX / count:
                    state, running_left = RenderJob.State.RUNNING, running_left - 1
                else:
                    state = rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()))[0]
                rows.append(_job_row(owner, state, next(codes), rng=rng, now=now))
            _insert(columns, rows)
            done += size
            log(f"jobs: {done} of {count}")
    return done


def _job_row(owner, state: str, mark_code: int, *, rng: random.Random, now) -> dict:
    spec = MODELS[rng.choice(list(MODELS))]
    steps = rng.choice((20, 30, 40))
    width, height, frames = 704 - 704 % spec.size_multiple, 480 - 480 % spec.size_multiple, 1 + spec.frame_step * 6
    estimate = spec.estimate_gpu_seconds(num_frames=frames, width=width, height=height, num_steps=steps)
    if state in (RenderJob.State.QUEUED, RenderJob.State.RUNNING):
        queued_at = now - timedelta(seconds=rng.uniform(0, 3600))
    else:
        queued_at = now - timedelta(seconds=rng.uniform(3600, HISTORY_DAYS * 86400))
    row = {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "owner_id": owner[1],
        "grant_id": owner[0],
        "prompt": f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)}, take {rng.randrange(1, 999)}",
        "model_key": spec.key,
        "num_frames": frames,
        "width": width,
        "height": height,
        "num_steps": steps,
        "guidance_scale": 3.0,
        "seed": rng.getrandbits(32),
        "mark_code": mark_code,
        "state": state,
        "progress_total": steps,
        "queued_at": queued_at,
        "charged_seconds": estimate,
    }
    if state == RenderJob.State.QUEUED:
        return row
    started = queued_at + timedelta(seconds=rng.uniform(1, 600))
    row |= {"started_at": started, "heartbeat_at": started, "attempts": 1, "worker": "gpu0@load-seed"}
    if state == RenderJob.State.RUNNING:
        return row | {"progress_step": rng.randrange(steps)}
    finished = started + timedelta(seconds=estimate)
    row |= {"finished_at": finished, "charged_seconds": 0.0}
    if state == RenderJob.State.SUCCEEDED:
        row |= {
            "progress_step": steps,
            "gpu_seconds": estimate,
            "charged_seconds": estimate,
            "encode_seconds": 2.5,
            "output": "renders/load-seed.mp4",
            "output_bytes": 2_000_000,
            "poster": "posters/load-seed.jpg",
        }
        if rng.random() < 0.02:
            row["deleted_at"] = finished + timedelta(days=1)
    elif state == RenderJob.State.FAILED:
        row |= {"error": "CUDA out of memory (seeded)."}
    else:
        row |= {"error": "Cancelled by its owner.", "stopped_at": finished}
    return row


@contextmanager
def _indexes_rebuilt_after():
    """On PostgreSQL, drop the job table's plain indexes (not those behind a constraint) and build them
    again after the inserts: one sort per index instead of a million updates. Inside the caller's
    transaction, so an interrupted seed leaves every index as it was."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND i.schemaname = "
            "current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [RenderJob._meta.db_table],
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the deferred foreign key checks before indexing
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cursor.execute(definition)


def _insert(columns, rows: list[dict]) -> None:
    """Rows as given, other columns at the model's defaults. Not bulk_create: it would stamp queued_at with now."""
    fixed = {field.attname: field.get_default() for field in columns if not callable(field.default)}
    values = [
        [
            row[field.attname] if field.attname in row else fixed.get(field.attname, field.get_default())
            for field in columns
        ]
        for row in rows
    ]
    table, names = RenderJob._meta.db_table, ", ".join(connection.ops.quote_name(field.column) for field in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
            return
        prepared = [
            [field.get_db_prep_save(value, connection) for field, value in zip(columns, row, strict=True)]
            for row in values
        ]
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", prepared)  # noqa: S608
