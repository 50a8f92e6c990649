"""A GPU fleet in fast motion, on the real scheduler: N simulated GPU workers and 1,000 testers against
PostgreSQL, then GPU busy fraction, fairness, waits, claim latency, double claims, lost and stuck jobs.

What is real: submission (generation.submission.jobs_submit: quota reservation, fair-share inputs), the
worker's whole job path (generation.render.job_render: the claim, job_claim_next with fair share, the step
callback job_progress with its access check and conditional write, job_fail, the settle in job_succeed),
worker rows and heartbeats (generation.workers), the requeue of a restarted worker's jobs
(sweeper.jobs_requeue_of_worker, as the worker's start signal calls it), the sweeper
(sweeper.jobs_requeue_stale and jobs_reannounce_waiting), cancels (job_actions.job_cancel) and revocations
(access.suspensions.revoke, which cancels queued jobs and stops running ones at their next step).

What is simulated: the GPU (runner.render sleeps each denoising step's scaled time and calls the step
callback), post-processing (sleeps the encode time on the worker's own post-processing thread, then stores a
few bytes through job_succeed), and the broker (a counting semaphore per model queue: a message says "a job of
this model is waiting", which is all a real message means to job_claim_next).

A GPU node is one OS process with --per-node GPU workers as threads (8 GPUs to a host); nodes are killed with
SIGKILL mid-render and restarted, half at once (the restarted workers requeue their own jobs) and half after
they have gone silent (the sweeper's heartbeat rule requeues them). This PostgreSQL allows 100 connections
shared with other work, so a node's threads share a small pool of connections, as PgBouncer would give them.

Time is compressed: 1 simulated second is --scale-ms real milliseconds, and every duration setting (heartbeat,
sweep, stale, re-announce) is scaled with it. Progress is written as the runner writes it, but at most once per
--progress-ms real milliseconds per worker (and always at the last step), so that the fleet's write rate stays
what two shared cores can carry; a cancel or revocation therefore stops a render within one such write.

    .venv/bin/python bench/fleet.py [--workers 64] [--minutes 120] [--testers 1000] [--scale-ms 50]
        [--database-url postgres://postgres@127.0.0.1:5432/backlot_fleet]

It drops and recreates its database each run.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import inspect
import json
import logging
import math
import multiprocessing as mp
import os
import queue
import random
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

from _setup import bench_database

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/backlot_fleet"
CTX = mp.get_context("fork")

# The models of the simulated programme: the share of the GPUs serving each, and the clip testers ask for.
# A job's simulated GPU time is the registry's estimate for it, +-15 %.
FLEET_MODELS = (
    ("ltx-video", 0.25, {"width": 768, "height": 512, "num_frames": 161, "num_steps": 40, "guidance_scale": 3.0}),
    ("cogvideox-5b", 0.375, {"width": 720, "height": 480, "num_frames": 49, "num_steps": 50, "guidance_scale": 6.0}),
    ("wan2.1-14b", 0.375, {"width": 832, "height": 480, "num_frames": 81, "num_steps": 50, "guidance_scale": 5.0}),
)
HEAVY_SHARE, BURST_SHARE = 0.01, 0.09  # of the testers; the rest are light
LIGHT_LOAD, BURST_LOAD = 0.25, 0.20  # of each model's GPU time that light and burst users ask for
HEARTBEAT_SIM = 15.0  # the defaults of BACKLOT_WORKER_HEARTBEAT_SECONDS, the sweep, BACKLOT_STALE_SECONDS
SWEEP_SIM = 30.0
STALE_SIM = 900.0
REANNOUNCE_SIM = 300.0
ENCODE_SIM = 3.0  # post-processing (marks, encoding, storing) beside the next render
PROMPTS = ("a lighthouse at dawn", "a red fox in snow", "a paper boat on a river", "rain on a neon street")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=64, help="simulated GPU workers (default 64)")
    parser.add_argument("--minutes", type=float, default=120.0, help="simulated minutes of programme (default 120)")
    parser.add_argument("--testers", type=int, default=1000, help="testers (default 1000)")
    parser.add_argument("--scale-ms", type=float, default=50.0, help="real milliseconds per simulated second")
    parser.add_argument("--per-node", type=int, default=8, help="GPU workers per node process (default 8)")
    parser.add_argument(
        "--progress-ms",
        type=float,
        default=0.0,
        help="least real ms between a worker's progress writes (default: the fleet writes about 150 a second)",
    )
    parser.add_argument("--kill-every", type=float, default=600.0, help="simulated seconds between node kills")
    parser.add_argument("--revoke-every", type=float, default=900.0, help="simulated seconds between revocations")
    parser.add_argument(
        "--connections",
        type=int,
        default=0,
        help="database connections for all nodes together (default: what the server has free, less a margin)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--probe-waiting", type=int, default=2000, help="waiting jobs for the claim probe after the run"
    )
    parser.add_argument("--probe-history", type=int, default=5000, help="finished jobs of each heavy user in the probe")
    parser.add_argument("--probe-only", action="store_true", help="skip the fleet, run only the claim probe")
    parser.add_argument("--database-url", default=os.environ.get("FLEET_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if args.workers < 1 or args.testers < 20 or args.minutes <= 0 or args.scale_ms <= 0 or args.per_node < 1:
        sys.exit("--workers and --per-node must be positive, --testers at least 20, --minutes and --scale-ms positive.")
    random.seed(args.seed)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 shows where each process is
    run(args)


# --- Set-up -------------------------------------------------------------------------------------------------


def database_fresh(url: str) -> int:
    """Drop and create the database ``url`` names (see _setup.bench_database); returns the server's free
    connections."""
    import psycopg

    name, admin_url = bench_database(url, example="backlot_fleet")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        free = conn.execute(
            "SELECT current_setting('max_connections')::int - (SELECT count(*) FROM pg_stat_activity)"
        ).fetchone()[0]
    return free


def django_setup(url: str, work: Path) -> None:
    sys.path.insert(0, str(ROOT))
    # Run from a git worktree with a virtualenv installed (editable) from another checkout, the editable
    # finder would fill in modules this checkout lacks from the other one.
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "BACKLOT_VAR_DIR": str(work),
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LEAK_BURST_MIN_JOBS": "100000000",
            "BACKLOT_RATE_SUBMISSIONS": "100000000/h",
            "API_RATE_PER_PERSON": "100000000/min",
            "API_RATE_PER_TOKEN": "100000000/min",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()


def world_build(testers: int) -> dict:
    """A programme, two cohorts (heavy users may keep many jobs waiting; everyone else a few), the testers,
    and one finished job per model whose id the simulated broker's messages carry."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from access.models import Role
    from access.programmes import cohort_create, membership_add, programme_create
    from generation.models import RenderJob

    User = get_user_model()
    programme = programme_create(name="Fleet")
    roomy = {"max_frames": 257, "max_steps": 100, "gpu_seconds_per_day": 10**9, "gpu_seconds_total": 2 * 10**9}
    heavy_cohort = cohort_create(programme=programme, name="Heavy", max_queued_jobs=1000, **roomy)
    artists = cohort_create(programme=programme, name="Artists", max_queued_jobs=12, **roomy)
    heavy_count = max(2, round(testers * HEAVY_SHARE))
    burst_count = max(2, round(testers * BURST_SHARE))
    users = []
    for index in range(testers):
        user = User(email=f"fleet-{index:05d}@example.org", display_name=f"Tester {index}")
        user.set_unusable_password()
        users.append(user)
    User.objects.bulk_create(users)
    users = list(User.objects.filter(email__startswith="fleet-").order_by("email"))
    classes = {}
    for index, user in enumerate(users):
        heavy = index < heavy_count
        membership_add(user=user, programme=programme, role=Role.ARTIST, cohort=heavy_cohort if heavy else artists)
        classes[user.pk] = "heavy" if heavy else "burst" if index < heavy_count + burst_count else "light"
    staff = User.objects.create(email="fleet-staff@example.org", is_staff=True)
    grant = users[0].grants.get()
    hints = {}
    for key, _, clip in FLEET_MODELS:
        hint = RenderJob.objects.create(
            owner=staff,
            grant=grant,
            prompt="the broker's hint",
            seed=0,
            model_key=key,
            state=RenderJob.State.CANCELLED,
            finished_at=timezone.now(),
            **clip,
        )
        hints[key] = str(hint.pk)
    return {"programme": programme.pk, "classes": classes, "hints": hints}


# --- What every simulated process shares --------------------------------------------------------------------


class Sim:
    """The run's constants, the broker's semaphores and the events, handed to each forked process."""

    def __init__(self, args, work: Path, world: dict, pool_per_node: int):
        self.scale = args.scale_ms / 1000.0
        self.work = work
        self.world = world
        self.t0 = time.time() + 1.0
        self.pool_per_node = pool_per_node
        self.progress_s = (args.progress_ms or max(20.0, 1000.0 * args.workers / 150.0)) / 1000.0
        self.queues = {key: CTX.Semaphore(0) for key, _, _ in FLEET_MODELS}
        # Plain shared flags, polled: a process SIGKILLed while waiting on a multiprocessing Event would
        # leave the Event's condition waiting for it forever.
        self.stop_submitting = Flag()
        self.stop_all = Flag()
        self.args = args

    def now(self) -> float:
        """Simulated seconds since the start."""
        return (time.time() - self.t0) / self.scale

    def real(self, sim_seconds: float) -> float:
        return sim_seconds * self.scale


class Flag:
    def __init__(self):
        self.value = CTX.RawValue("b", 0)

    def set(self) -> None:
        self.value.value = 1

    def is_set(self) -> bool:
        return bool(self.value.value)

    def wait(self, seconds: float) -> bool:
        deadline = time.time() + seconds
        while not self.is_set() and time.time() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.time())))
        return self.is_set()


class Events:
    """Append-only JSON lines, one os.write each, so a SIGKILL loses no line already written."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, kind: str, **fields) -> None:
        fields.update(k=kind, t=time.time())
        os.write(self.fd, (json.dumps(fields) + "\n").encode())


def process_setup(sim: Sim, name: str) -> Events:
    """In a freshly forked process: no inherited connection, scaled durations, the simulated broker, logs
    to a file of its own."""
    from django.conf import settings
    from django.db import connections

    for alias in connections:  # the parent closed its connections before the fork; never touch its sockets
        connections[alias].connection = None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    random.seed(f"{sim.args.seed}-{name}-{os.getpid()}")
    settings.BACKLOT_WORKER_HEARTBEAT_SECONDS = sim.real(HEARTBEAT_SIM)
    settings.BACKLOT_STALE_SECONDS = sim.real(STALE_SIM)
    settings.BACKLOT_REANNOUNCE_SECONDS = sim.real(REANNOUNCE_SIM)
    settings.BACKLOT_FAIR_SHARE_HOURS = 24 * sim.scale
    settings.BACKLOT_POSTPROCESS_INLINE = False
    logging.basicConfig(filename=str(sim.work / f"{name}.log"), level=logging.WARNING, force=True)
    from generation import broker, registry

    queue_of = {registry.model_get(key).queue: key for key, _, _ in FLEET_MODELS}

    def job_announce(job_id, *, queue: str) -> None:
        sim.queues[queue_of[queue]].release()

    def messages_waiting(queue: str) -> int | None:
        return sim.queues[queue_of[queue]].get_value() if queue in queue_of else 0

    broker.job_announce = job_announce
    broker.messages_waiting = messages_waiting
    return Events(sim.work / "events" / f"{name}-{os.getpid()}.jsonl")


class ConnectionPool:
    """A node's few database connections, lent to its threads one call at a time (as PgBouncer lends them).
    ``lent(fn)`` runs ``fn`` on a pooled connection; calls made inside it reuse that connection."""

    def __init__(self, size: int):
        from django.db import connections

        self.free: queue.Queue = queue.Queue()
        for _ in range(size):
            wrapper = connections.create_connection("default")
            wrapper.inc_thread_sharing()
            self.free.put(wrapper)
        self.local = threading.local()

    def lent(self, function):
        from django.db import connections

        def call(*args, **kwargs):
            if getattr(self.local, "depth", 0):
                return function(*args, **kwargs)
            wrapper = self.free.get()
            own = connections["default"]
            connections["default"] = wrapper
            self.local.depth = 1
            try:
                return function(*args, **kwargs)
            finally:
                self.local.depth = 0
                connections["default"] = own
                self.free.put(wrapper)

        return call


# --- A GPU node ---------------------------------------------------------------------------------------------


def stand_in(real, fake):
    """``fake``, once it is shown to take every argument ``real`` takes. A stand-in that fell behind its function
    (render.job_finish gained source_frames in 25d3f02) would otherwise crash every simulated render after its
    last step, and the run would report the requeues as the scheduler's."""
    taken = inspect.signature(fake).parameters
    open_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in taken.values())
    missing = [name for name in inspect.signature(real).parameters if name not in taken and not open_keywords]
    if missing:
        raise TypeError(f"bench/fleet.py's stand-in for {real.__module__}.{real.__name__} lacks {missing}")
    return fake


def node_main(sim: Sim, node: str, gpus: list[tuple[str, str]]) -> None:
    """One host: a heartbeat thread and one thread per GPU, each taking messages for its model and running
    generation.render.job_render on them, with the GPU and post-processing simulated."""
    events = process_setup(sim, node)
    import numpy as np
    from django.db import connections

    from generation import health, postprocess, render, runner, sweeper, workers
    from generation.registry import model_get

    pool = ConnectionPool(sim.pool_per_node)
    local = threading.local()

    # The GPU: each step's scaled time, the step callback at most once per progress interval, then decode.
    def fake_render(spec, params, *, on_step):
        rng = random.Random(params.seed)
        gpu_seconds = spec.estimate_gpu_seconds(
            num_frames=params.num_frames, width=params.width, height=params.height, num_steps=params.num_steps
        ) * rng.uniform(0.85, 1.15)
        decode = min(spec.fixed_seconds, gpu_seconds / 4)
        step = (gpu_seconds - decode) / params.num_steps
        started, written = time.time(), 0.0
        for done in range(1, params.num_steps + 1):
            _sleep_until(started + sim.real(step * done))
            if done == params.num_steps or time.time() - written >= sim.progress_s:
                on_step(done, params.num_steps)
                written = time.time()
        _sleep_until(started + sim.real(gpu_seconds))
        return runner.RenderResult(frames=np.zeros((1, 8, 8, 3), np.float32), device_seconds=gpu_seconds)

    # Post-processing: on this GPU's own thread beside the next render, then the real settle.
    def fake_finish(*, job, frames, device_seconds, source_frames=None):  # as render.job_finish
        time.sleep(sim.real(ENCODE_SIM))
        done = render.job_succeed(job=job, video=b"sim", device_seconds=device_seconds, encode_seconds=ENCODE_SIM)
        events.write("settled", w=local.hostname, job=str(job.pk), ok=done)
        return done

    def submit(work):
        local.backlog.put(work)

    job_claim_next = render.job_claim_next

    def claim_on_pool(**kwargs):
        """The claim on a pooled connection, with what it cost there: the wall time of its statements and
        the CPU its PostgreSQL backend used (from /proc; the server runs on this machine)."""
        db = connections["default"]
        db.ensure_connection()
        backend, spent = db.connection.info.backend_pid, []
        local.claim_on_pool, server = time.perf_counter(), process_cpu_ms(backend)

        def timer(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                spent.append(time.perf_counter() - started)

        with db.execute_wrapper(timer):
            job = job_claim_next(**kwargs)
        local.claim_server = process_cpu_ms(backend) - server
        local.claim_db, local.claim_statements = sum(spent) * 1000, len(spent)
        return job

    real_claim = pool.lent(claim_on_pool)

    def timed_claim(**kwargs):
        started, cpu = time.perf_counter(), time.thread_time()
        job = real_claim(**kwargs)
        took, cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        local.job = job
        events.write(
            "claim",
            w=local.hostname,
            ms=took,
            cpu=cpu,
            pool=(local.claim_on_pool - started) * 1000,
            db=local.claim_db,
            srv=local.claim_server,
            n=local.claim_statements,
            job=str(job.pk) if job else None,
            att=job.attempts if job else None,
        )
        return job

    runner.render = stand_in(runner.render, fake_render)
    render.job_finish = pool.lent(stand_in(render.job_finish, fake_finish))
    render.job_claim_next = stand_in(render.job_claim_next, timed_claim)
    render.job_progress = pool.lent(render.job_progress)
    render.job_fail = pool.lent(render.job_fail)
    render.retried = pool.lent(render.retried)
    # The worker's health checks (generation/health.py) read and write the database too: on the pool, or each
    # GPU thread opens a connection of its own and 64 of them exhaust the server.
    for name in ("worker_is_healthy", "message_pass_on", "worker_fault", "worker_rendered"):
        setattr(health, name, pool.lent(getattr(health, name)))
    postprocess.submit = submit

    identities = []
    for hostname, model_key in gpus:
        identity = {"hostname": hostname, "queues": [model_get(model_key).queue], "device": "sim", "pid": os.getpid()}
        pool.lent(workers.worker_started)(**identity)
        requeued = pool.lent(sweeper.jobs_requeue_of_worker)(hostname)
        events.write("start", w=hostname, model=model_key, requeued=requeued)
        identities.append(identity)

    def heartbeat():
        while not sim.stop_all.wait(sim.real(HEARTBEAT_SIM)):
            for identity in identities:
                with contextlib.suppress(Exception):
                    pool.lent(workers.worker_seen)(**identity)

    def post_thread(backlog: queue.Queue, hostname: str):
        local.hostname = hostname
        while True:
            work = backlog.get()
            if work is None:
                return
            try:
                work()
            except Exception:
                logging.exception("fleet.postprocess_crashed")

    def gpu(hostname: str, model_key: str):
        local.hostname = hostname
        local.backlog = queue.Queue(maxsize=1)
        post = threading.Thread(target=post_thread, args=(local.backlog, hostname), daemon=True)
        post.start()
        messages, hint = sim.queues[model_key], sim.world["hints"][model_key]
        while not sim.stop_all.is_set():
            if not messages.acquire(timeout=0.2):
                continue
            local.job = None
            job = render.job_render(job_id=hint, worker=hostname, task_id=uuid.uuid4().hex)
            if local.job is not None:
                events.write("end", w=hostname, job=str(local.job.pk), state=job.state if job else "?")
        local.backlog.put(None)
        post.join()
        pool.lent(workers.worker_stopped)(hostname=hostname)
        events.write("stop", w=hostname)

    threading.Thread(target=heartbeat, daemon=True).start()
    threads = [threading.Thread(target=gpu, args=gpu_spec) for gpu_spec in gpus]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os._exit(0)


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


# --- The sweeper (beat) -------------------------------------------------------------------------------------


def sweeper_main(sim: Sim) -> None:
    events = process_setup(sim, "sweeper")
    from generation.sweeper import jobs_reannounce_waiting, jobs_requeue_stale

    while not sim.stop_all.wait(sim.real(SWEEP_SIM)):
        try:
            requeued, reannounced = jobs_requeue_stale(), jobs_reannounce_waiting()
        except Exception:
            logging.exception("fleet.sweep_failed")
            continue
        if requeued or reannounced:
            events.write("sweep", requeued=requeued, reannounced=reannounced)
    os._exit(0)


# --- The testers --------------------------------------------------------------------------------------------


def testers_main(sim: Sim) -> None:
    """Light testers submit one clip now and then, burst testers four variations at a time, heavy ones keep
    jobs waiting on every model; some cancel, and now and then staff revoke a tester mid-render."""
    events = process_setup(sim, "testers")
    from concurrent.futures import ThreadPoolExecutor

    from django.contrib.auth import get_user_model
    from django.core.exceptions import PermissionDenied, ValidationError
    from django.db import close_old_connections
    from django.db.models import Count

    from access.models import Programme
    from access.suspensions import revoke
    from generation.job_actions import job_cancel
    from generation.models import RenderJob
    from generation.quota import QuotaExceeded
    from generation.registry import model_get
    from generation.submission import jobs_submit

    args = sim.args
    classes = {int(pk): kind for pk, kind in sim.world["classes"].items()}
    users = {user.pk: user for user in get_user_model().objects.filter(pk__in=classes)}
    by_class = defaultdict(list)
    for pk, kind in classes.items():
        by_class[kind].append(pk)
    revoked: set[int] = set()
    programme = Programme.objects.get(pk=sim.world["programme"])
    workers_of = gpu_split(args.workers)
    cost = {key: model_get(key).estimate_gpu_seconds(**_dims(clip)) for key, _, clip in FLEET_MODELS}
    clips = {key: clip for key, _, clip in FLEET_MODELS}
    topup_sim = 5.0
    keep = {
        key: max(2, math.ceil(3 * workers_of[key] * topup_sim / cost[key] / len(by_class["heavy"])))
        for key in workers_of
    }
    outcomes: dict[str, int] = defaultdict(int)
    pending: dict[tuple, int] = defaultdict(int)
    lock = threading.Lock()
    executor = ThreadPoolExecutor(max_workers=6)

    def submit(owner_id: int, model_key: str, count: int, cancel_after: float | None = None):
        try:
            jobs = jobs_submit(
                owner=users[owner_id],
                count=count,
                via="api",
                prompt=random.choice(PROMPTS),
                model_key=model_key,
                **clips[model_key],
            )
            outcomes["submitted"] += len(jobs)
            if cancel_after is not None:
                later = sim.now() + cancel_after
                cancels.append((later, jobs[0].pk))
        except (QuotaExceeded, PermissionDenied, ValidationError) as refused:
            outcomes[type(refused).__name__] += 1
        except Exception:
            logging.exception("fleet.submit_failed")
            outcomes["error"] += 1
        finally:
            with lock:
                pending[(owner_id, model_key)] -= count
            close_old_connections()

    def cancel(job_id):
        job = RenderJob.objects.get(pk=job_id)
        state = job.state
        if job_cancel(job=job, reason="Cancelled by its owner (fleet bench)."):
            events.write("cancel", job=str(job_id), was=state)

    def enqueue(function, *fargs, **fkwargs):
        if executor._work_queue.qsize() > 200:
            outcomes["arrivals dropped (submissions behind)"] += 1
            return False
        executor.submit(function, *fargs, **fkwargs)
        return True

    def ask(owner_id, model_key, count, cancel_after=None):
        with lock:
            pending[(owner_id, model_key)] += count
        if not enqueue(submit, owner_id, model_key, count, cancel_after):
            with lock:
                pending[(owner_id, model_key)] -= count

    cancels: list = []
    rate = {
        key: (
            LIGHT_LOAD * workers_of[key] / cost[key],  # light arrivals per simulated second
            BURST_LOAD * workers_of[key] / cost[key] / 4,  # burst arrivals (four variations each)
        )
        for key in workers_of
    }
    next_topup = next_revoke = 0.0
    next_revoke = args.revoke_every / 2
    tick = 1.0
    last = sim.now()
    _sleep_until(sim.t0)
    while not sim.stop_submitting.is_set():
        now = sim.now()
        elapsed, last = now - last, now
        for key, (light, burst) in rate.items():
            for _ in range(_poisson(light * elapsed)):
                owner = random.choice(by_class["light"])
                if owner not in revoked:
                    ask(
                        owner, key, 1, cancel_after=random.uniform(0, 3 * cost[key]) if random.random() < 0.08 else None
                    )
            for _ in range(_poisson(burst * elapsed)):
                owner = random.choice(by_class["burst"])
                if owner not in revoked:
                    ask(owner, key, 4)
        if now >= next_topup:
            next_topup = now + topup_sim
            waiting = RenderJob.objects.filter(owner_id__in=by_class["heavy"], state=RenderJob.State.QUEUED)
            counts = {(o, m): n for o, m, n in waiting.values_list("owner_id", "model_key").annotate(n=Count("pk"))}
            for owner in by_class["heavy"]:
                for key in workers_of:
                    with lock:
                        short = keep[key] - counts.get((owner, key), 0) - pending[(owner, key)]
                    for _ in range(max(0, short)):
                        ask(owner, key, 1)
        due = [job_id for moment, job_id in cancels if moment <= now]
        cancels[:] = [(moment, job_id) for moment, job_id in cancels if moment > now]
        for job_id in due:
            enqueue(cancel, job_id)
        if now >= next_revoke:
            next_revoke = now + args.revoke_every
            running = list(
                RenderJob.objects.filter(state=RenderJob.State.RUNNING)
                .exclude(owner_id__in=by_class["heavy"])
                .exclude(owner_id__in=revoked)
                .values_list("owner_id", "pk")
            )
            if running:
                owner, _ = random.choice(running)
                jobs = [
                    str(pk)
                    for pk in RenderJob.objects.filter(owner_id=owner, state="running").values_list("pk", flat=True)
                ]
                revoke(programme=programme, reason="Fleet bench: a leak traced to this account.", user=users[owner])
                revoked.add(owner)
                events.write("revoke", user=owner, running=jobs)
        time.sleep(sim.real(tick))
    executor.shutdown(wait=True)
    events.write("testers", outcomes=dict(outcomes), keep=keep, revoked=sorted(revoked))
    os._exit(0)


def _poisson(mean: float) -> int:
    count, threshold, product = 0, math.exp(-mean), random.random()
    while product > threshold:
        count += 1
        product *= random.random()
    return count


def _dims(clip: dict) -> dict:
    return {name: clip[name] for name in ("num_frames", "width", "height", "num_steps")}


def gpu_split(workers: int) -> dict[str, int]:
    """How many of ``workers`` serve each model (at least one each)."""
    split = {key: max(1, round(workers * share)) for key, share, _ in FLEET_MODELS}
    biggest = max(split, key=split.get)
    split[biggest] += workers - sum(split.values())
    return split


# --- The run ------------------------------------------------------------------------------------------------


def run(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="backlot-fleet-"))
    (work / "events").mkdir()
    free = database_fresh(args.database_url)
    django_setup(args.database_url, work)
    from django.core.management import call_command
    from django.db import connections

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    world = world_build(args.testers)
    if args.probe_only:
        claim_probe(world, waiting=args.probe_waiting, history=args.probe_history)
        return
    split = gpu_split(args.workers)
    gpus = [(key, key) for key, count in split.items() for _ in range(count)]
    random.shuffle(gpus)
    nodes = {f"node{n:03d}": gpus[i : i + args.per_node] for n, i in enumerate(range(0, len(gpus), args.per_node))}
    nodes = {name: [(f"gpu{slot}@{name}", key) for slot, (_, key) in enumerate(node)] for name, node in nodes.items()}
    budget = args.connections or max(len(nodes), free - 25)
    per_node = max(1, min(2 * args.per_node + 1, budget // len(nodes)))
    sim = Sim(args, work, world, per_node)
    print(
        f"{args.workers} GPU workers on {len(nodes)} nodes ({', '.join(f'{n} {k}' for k, n in split.items())}), "
        f"{args.testers} testers; 1 simulated s = {args.scale_ms:g} ms; {args.minutes:g} simulated minutes; "
        f"{per_node} database connections per node ({per_node * len(nodes)} in all, {free} were free); progress "
        f"written at most every {sim.progress_s * 1000:.0f} ms per worker; set up in {time.monotonic() - started:.1f} s"
    )
    connections.close_all()

    def fork(target, *fargs):
        process = CTX.Process(target=target, args=(sim, *fargs), daemon=False)
        process.start()
        return process

    coordinator_events = Events(work / "events" / "coordinator.jsonl")
    node_procs = {name: fork(node_main, name, node) for name, node in nodes.items()}
    sweeper_proc = fork(sweeper_main)
    testers_proc = fork(testers_main)
    from django.db.models import Sum

    from generation.models import RenderJob
    from generation.registry import model_get

    steady_end = args.minutes * 60
    next_kill = args.kill_every / 2
    restarts: list = []  # (simulated time, node name)
    kills = 0
    backlog_samples: dict[int, int] = defaultdict(int)
    samples = 0
    waiting_samples = []
    load = []
    next_sample = 0.0
    _sleep_until(sim.t0)
    while sim.now() < steady_end:
        now = sim.now()
        if now >= next_kill and args.kill_every > 0:
            next_kill = now + args.kill_every
            alive = [name for name, proc in node_procs.items() if proc.is_alive()]
            if len(alive) > 1:
                victim = random.choice(alive)
                os.kill(node_procs[victim].pid, signal.SIGKILL)
                node_procs[victim].join()
                kills += 1
                coordinator_events.write("kill", node=victim, workers=[host for host, _ in nodes[victim]])
                # Every other kill: back at once (its workers requeue their own jobs); else after it has
                # been silent long enough for the sweeper's heartbeat rule to requeue them.
                delay = 0.0 if kills % 2 else 4 * HEARTBEAT_SIM + 2 * SWEEP_SIM
                restarts.append((now + delay, victim))
        for moment, name in [item for item in restarts if item[0] <= now]:
            restarts.remove((moment, name))
            connections.close_all()
            node_procs[name] = fork(node_main, name, nodes[name])
            coordinator_events.write("restart", node=name)
        if now >= next_sample:
            next_sample = now + 10.0
            owners = RenderJob.objects.filter(state=RenderJob.State.QUEUED, held=False).values_list(
                "owner_id", flat=True
            )
            waiting = list(owners)
            waiting_samples.append(len(waiting))
            if now >= steady_end * 0.1:
                samples += 1
                for owner in set(waiting):
                    backlog_samples[owner] += 1
            load.append(os.getloadavg()[0])
        time.sleep(sim.real(1.0))
    sim.stop_submitting.set()
    coordinator_events.write("steady_end")
    testers_proc.join()
    for _, name in restarts:
        connections.close_all()
        node_procs[name] = fork(node_main, name, nodes[name])
        coordinator_events.write("restart", node=name)
    drain_started = time.monotonic()
    unfinished = RenderJob.objects.filter(state__in=[RenderJob.State.QUEUED, RenderJob.State.RUNNING])
    # Long enough for the backlog left on the slowest model: its jobs' GPU time over its GPUs, twice, plus the
    # longest render; a job still waiting after that counts as lost.
    backlog = unfinished.values_list("model_key").annotate(seconds=Sum("charged_seconds"))
    longest = max(model_get(key).estimate_gpu_seconds(**_dims(clip)) for key, _, clip in FLEET_MODELS)
    drain_limit = 60 + sim.real(2 * max((s / split[k] for k, s in backlog if split.get(k)), default=0) + 2 * longest)
    while unfinished.exists() and time.monotonic() - drain_started < drain_limit:
        time.sleep(0.5)
    drain_seconds = time.monotonic() - drain_started
    sim.stop_all.set()
    for proc in [*node_procs.values(), sweeper_proc]:
        proc.join(timeout=60)
    connections.close_all()
    report(sim, work, world, split, dict(backlog_samples), samples, waiting_samples, load, drain_seconds, kills)
    if args.probe_waiting:
        claim_probe(world, waiting=args.probe_waiting, history=args.probe_history)


def claim_probe(world: dict, *, waiting: int, history: int) -> None:
    """The claim's cost at depth, one claim at a time: ``waiting`` jobs wait (half of them the heavy users'),
    each heavy user has ``history`` finished jobs in the fair-share window; then 40 claims in a row, and the
    fair-order query's own time in PostgreSQL (EXPLAIN ANALYZE)."""
    import re

    from django.db import connection, transaction

    from access.models import Grant
    from generation import queue
    from generation.models import RenderJob

    classes = {int(pk): kind for pk, kind in world["classes"].items()}
    grants = dict(Grant.objects.filter(user_id__in=classes).values_list("user_id", "pk"))
    heavy = [pk for pk, kind in classes.items() if kind == "heavy"]
    others = [pk for pk, kind in classes.items() if kind != "heavy"][:500]
    clip = dict(FLEET_MODELS[0][2])
    base = 10**12 + random.randrange(10**9)

    def job(owner, state, n, **fields):
        return RenderJob(
            owner_id=owner,
            grant_id=grants[owner],
            prompt="probe",
            seed=0,
            model_key=FLEET_MODELS[0][0],
            state=state,
            mark_code=base + n,
            **clip,
            **fields,
        )

    rows, n = [], 0
    for owner in heavy:
        for _ in range(history):
            rows.append(job(owner, "succeeded", n, charged_seconds=30.0, gpu_seconds=30.0))
            n += 1
    for index in range(waiting):
        owner = heavy[index % len(heavy)] if index % 2 else others[index % len(others)]
        rows.append(job(owner, "queued", n, charged_seconds=30.0))
        n += 1
    RenderJob.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE generation_renderjob, generation_usagehour")

    def plan_ms(sql, params) -> float:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE) " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            transaction.set_rollback(True)
        return float(re.search(r"Execution Time: ([0-9.]+) ms", plan).group(1))

    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    hint = world["hints"][FLEET_MODELS[0][0]]
    with transaction.atomic(), connection.execute_wrapper(capture):
        if hasattr(queue, "_claim_head"):  # the claim in one statement: pick, lock, take
            queue._claim_head(hint_id=hint, worker="explain", task_id="explain")
        else:
            queue._fair_first(FLEET_MODELS[0][0])
        transaction.set_rollback(True)
    claim_query_ms = plan_ms(*next(item for item in reversed(captured) if "WITH" in item[0] or "FOR UPDATE" in item[0]))
    old_sql, old_params = queue.fair_queue(FLEET_MODELS[0][0]).values_list("pk", flat=True)[:1].query.sql_with_params()
    fair_queue_ms = plan_ms(old_sql, old_params)
    took = []
    for index in range(40):
        started = time.perf_counter()
        queue.job_claim_next(hint_id=hint, worker=f"probe{index}", task_id=f"probe{index}")
        took.append((time.perf_counter() - started) * 1000)
    print(
        f"\nclaim probe, one claim at a time: {waiting} jobs waiting ({waiting // 2} of {len(heavy)} heavy users with "
        f"{history} finished jobs each in the window): job_claim_next p50 {_pct(took, 50):.1f} ms, "
        f"p95 {_pct(took, 95):.1f} ms; in PostgreSQL (EXPLAIN ANALYZE) the claim's fair-order query "
        f"{claim_query_ms:.1f} ms, fair_queue's (queue positions, staff queue) {fair_queue_ms:.0f} ms "
        f"(load average {os.getloadavg()[0]:.1f})"
    )


# --- The figures ---------------------------------------------------------------------------------------------


def report(sim, work, world, split, backlog_samples, samples, waiting_samples, load, drain_seconds, kills) -> None:
    from django.db.models import Count

    from generation.models import RenderJob

    events = []
    for path in sorted((work / "events").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut by SIGKILL
                events.append(json.loads(line))
    events.sort(key=lambda event: event["t"])

    def sim_of(t):
        return (t - sim.t0) / sim.scale

    steady_end = next((sim_of(e["t"]) for e in events if e["k"] == "steady_end"), sim.args.minutes * 60)
    window = (steady_end * 0.1, steady_end)
    model_of = {}

    # Each worker's life (start to kill or stop) and its renders (claim to end, or to its node's kill).
    alive: dict[str, list] = defaultdict(list)
    renders: dict[str, list] = defaultdict(list)  # job -> [(start, end, worker, attempt)]
    busy: dict[str, list] = defaultdict(list)
    current: dict[str, tuple] = {}
    claims_ms, empty_claims_ms, claims_cpu_ms = [], [], []
    claims_pool_ms, claims_db_ms, claims_server_ms, claims_statements = [], [], [], []
    first_claim: dict[str, float] = {}
    settled_ok: dict[str, int] = defaultdict(int)
    attempts_seen: dict[tuple, set] = defaultdict(set)
    requeued_at_start = sweeper_requeued = reannounced = 0
    testers = {}
    stops: dict[str, list] = defaultdict(list)
    revocations = []
    cancels = []

    def close(host, moment):
        if host in current:
            job, start, attempt = current.pop(host)
            renders[job].append((start, moment, host, attempt))
            busy[host].append((start, moment))

    for event in events:
        t = sim_of(event["t"])
        kind = event["k"]
        if kind == "start":
            alive[event["w"]].append([t, None])
            model_of[event["w"]] = event["model"]
            requeued_at_start += event["requeued"]
        elif kind == "claim":
            (claims_ms if event["job"] else empty_claims_ms).append(event["ms"])
            claims_cpu_ms.append(event["cpu"])
            if "srv" in event:
                claims_pool_ms.append(event["pool"])
                claims_db_ms.append(event["db"])
                claims_server_ms.append(event["srv"])
                claims_statements.append(event["n"])
            if event["job"]:
                current[event["w"]] = (event["job"], t, event["att"])
                first_claim.setdefault(event["job"], event["t"])
                attempts_seen[(event["job"], event["att"])].add(event["w"])
        elif kind == "end":
            close(event["w"], t)
            stops[event["job"]].append(t)
        elif kind == "settled" and event["ok"]:
            settled_ok[event["job"]] += 1
        elif kind in ("kill", "stop"):
            hosts = event["workers"] if kind == "kill" else [event["w"]]
            for host in hosts:
                close(host, t)
                if alive[host] and alive[host][-1][1] is None:
                    alive[host][-1][1] = t
        elif kind == "sweep":
            sweeper_requeued += event["requeued"]
            reannounced += event["reannounced"]
        elif kind == "testers":
            testers = event
        elif kind == "revoke":
            revocations.append((t, event["running"]))
        elif kind == "cancel" and event["was"] == "running":
            cancels.append((t, event["job"]))
    end = sim_of(time.time())
    for host in list(current):
        close(host, end)

    def overlap(intervals, lo, hi):
        return sum(max(0.0, min(b if b is not None else end, hi) - max(a, lo)) for a, b in intervals)

    alive_total = sum(overlap(spans, *window) for spans in alive.values())
    busy_total = sum(overlap(spans, *window) for spans in busy.values())
    busy_by_model = defaultdict(lambda: [0.0, 0.0])
    for host, spans in alive.items():
        busy_by_model[model_of[host]][0] += overlap(busy.get(host, []), *window)
        busy_by_model[model_of[host]][1] += overlap(spans, *window)

    # Double claims: one attempt taken by two workers, or two renders of one job at the same time.
    doubled = {job for (job, _), hosts in attempts_seen.items() if len(hosts) > 1}
    for job, spans in renders.items():
        spans.sort()
        for (_, a1, _, _), (b0, _, _, _) in zip(spans, spans[1:], strict=False):
            if b0 < a1 - 1e-6:
                doubled.add(job)
    twice_done = [job for job, n in settled_ok.items() if n > 1]

    # Fairness: GPU seconds in the window of each tester who had a job waiting in >= 90 % of the samples.
    classes = {int(pk): kind for pk, kind in world["classes"].items()}
    owner_of = dict(RenderJob.objects.values_list("pk", "owner_id"))
    owner_of = {str(pk): owner for pk, owner in owner_of.items()}
    gpu_of = defaultdict(float)
    gpu_by_model = defaultdict(lambda: defaultdict(float))
    for job, spans in renders.items():
        for start, stop, host, _ in spans:
            seconds = overlap([(start, stop)], *window)
            gpu_of[owner_of.get(job)] += seconds
            gpu_by_model[model_of[host]][owner_of.get(job)] += seconds
    unmet = sorted(owner for owner, n in backlog_samples.items() if samples and n >= 0.9 * samples)
    jain = _jain([gpu_of[owner] for owner in unmet])

    # Waits: first claim less queueing time, per class.
    waits = defaultdict(list)
    rows = RenderJob.objects.filter(owner_id__in=classes).values_list("pk", "owner_id", "queued_at")
    for pk, owner, queued_at in rows:
        claimed = first_claim.get(str(pk))
        if claimed is not None:
            waits[classes[owner]].append((claimed - queued_at.timestamp()) / sim.scale)

    states = dict(RenderJob.objects.filter(owner_id__in=classes).values_list("state").annotate(n=Count("pk")))
    lost = states.get("queued", 0) + states.get("running", 0)
    stopped = [(t, job) for t, jobs in revocations for job in jobs] + cancels
    stopped_after = [
        min(end for end in stops[job] if end >= t) - t for t, job in stopped if max(stops[job], default=-1) >= t
    ]

    print(f"\nload average during the run: {statistics.mean(load):.1f} (max {max(load):.1f}) on {os.cpu_count()} CPUs")
    print(f"waiting jobs (sampled): median {statistics.median(waiting_samples):.0f}, max {max(waiting_samples)}")
    print(f"jobs: {sum(states.values())} submitted; " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    print(f"tester outcomes: {testers.get('outcomes')}; heavy users keep {testers.get('keep')} waiting per model")
    print(
        f"kills: {kills} nodes SIGKILLed; requeued by restarted workers {requeued_at_start}, by the sweeper "
        f"{sweeper_requeued}; messages re-announced {reannounced}; "
        f"drained {drain_seconds:.1f} s after the last submission"
    )
    for job in sorted(doubled)[:5]:
        spans = ", ".join(f"{host} {a:.0f}-{b:.0f} s (attempt {att})" for a, b, host, att in renders[job])
        print(f"  rendered twice at once: job {job[:8]}: {spans}")
    print(f"\n{'figure':58} {'measured':>16}  target (64 workers)")
    claimed = f"{_pct(claims_ms, 50):.1f} / {_pct(claims_ms, 95):.1f}"
    empty = f"{_pct(empty_claims_ms, 50):.1f} / {_pct(empty_claims_ms, 95):.1f}"
    rows = [
        (
            "GPU busy fraction (after the first 10 %, until submissions stop)",
            f"{100 * busy_total / alive_total:.1f} %",
            ">= 95 %",
        ),
        *(
            (f"  {key} ({split[key]} GPUs)", f"{100 * b / a:.1f} %", "")
            for key, (b, a) in sorted(busy_by_model.items())
            if a
        ),
        (f"Jain's index, GPU seconds of the {len(unmet)} testers with unmet demand", f"{jain:.3f}", ">= 0.95"),
        *(
            (f"  on {key} alone", f"{_jain([per_owner[o] for o in unmet]):.3f}", "")
            for key, per_owner in sorted(gpu_by_model.items())
        ),
        *(
            (
                f"wait p50 / p95, {kind} testers (simulated s)",
                f"{_pct(waits[kind], 50):.0f} / {_pct(waits[kind], 95):.0f}",
                "",
            )
            for kind in ("light", "burst", "heavy")
        ),
        ("claim latency p50 / p95 (ms, jobs claimed)", claimed, "p95 <= 20 ms"),
        ("claim latency p50 / p95 (ms, nothing to claim)", empty, ""),
        (
            "  the worker's own CPU per claim p50 / p95 (ms)",
            f"{_pct(claims_cpu_ms, 50):.1f} / {_pct(claims_cpu_ms, 95):.1f}",
            "",
        ),
        (
            "  waiting for a pooled connection p50 / p95 (ms)",
            f"{_pct(claims_pool_ms, 50):.1f} / {_pct(claims_pool_ms, 95):.1f}",
            "",
        ),
        (
            "  in its SQL statements, wall, p50 / p95 (ms)",
            f"{_pct(claims_db_ms, 50):.1f} / {_pct(claims_db_ms, 95):.1f}",
            "",
        ),
        ("  its PostgreSQL backend's CPU per claim, mean (ms)", f"{_mean(claims_server_ms):.2f}", ""),
        ("  the worker's own CPU per claim, mean (ms)", f"{_mean(claims_cpu_ms):.2f}", ""),
        ("  SQL statements per claim, mean", f"{_mean(claims_statements):.1f}", ""),
        ("claims", f"{len(claims_ms)} + {len(empty_claims_ms)} empty", ""),
        ("render stopped after cancel/revoke, p95 (simulated s)", f"{_pct(stopped_after, 95):.1f}", ""),
        ("double claims (a job rendered by two workers at once)", f"{len(doubled)}", "0"),
        ("jobs stored twice", f"{len(twice_done)}", "0"),
        ("lost jobs (never finished, cancelled or failed)", f"{lost}", "0"),
        ("jobs left running at the end", f"{states.get('running', 0)}", "0"),
    ]
    for label, value, target in rows:
        print(f"{label:58} {value:>16}  {target}")
    print(f"\nevents and logs: {work}")


def _mean(values) -> float:
    return statistics.fmean(values) if values else float("nan")


def process_cpu_ms(pid: int) -> float:
    """The CPU time (user and system) a local process has used, in ms, in steps of the kernel's clock tick:
    over thousands of claims, a PostgreSQL backend's own work for them whatever the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _pct(values, percent: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(percent / 100 * len(ordered)) - 1))]


def _jain(shares) -> float:
    shares = list(shares)
    if not shares or not any(shares):
        return float("nan")
    return sum(shares) ** 2 / (len(shares) * sum(x * x for x in shares))


if __name__ == "__main__":
    main()
