"""`make run`'s processes stopped and started again, as a person at a terminal does: the script the Makefile
runs (platform/run.sh: one worker with the sweeper, and the web app) started in a process group of its
own, Ctrl-C (SIGINT to the whole group) mid-render, started again. The job finishes exactly once, and
after each stop nothing is left: no process of the group, no job running."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from generation.models import RenderJob, Worker
from generation.quota import grant_usage
from generation.submission import job_create
from tests.conftest import c2pa_environment
from tests.e2e.conftest import ROOT, _database_url, wait_for
from tests.e2e.servers import free_port, private_filesystem_broker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A warm stop waits for the render, so it gets a short one (under 3 s on a quiet machine, a minute or more on a
# busy one). A cold stop must land mid-render, a second after the first Ctrl-C, however quiet the machine: the
# short render had finished its denoising by then. The long one was at step 5 of 100 when the cold stop landed at
# load average 5; twice as long (97 frames, about 13 s on a quiet machine), it was at step 12 on a quiet one.
SHORT = {"model_key": "ltx-video", "num_frames": 17, "width": 256, "height": 256, "num_steps": 40}
LONG = {"model_key": "ltx-video", "num_frames": 49, "width": 512, "height": 512, "num_steps": 100}


def _group(pgid: int) -> list[psutil.Process]:
    """The live processes of process group ``pgid`` (zombies are gone already)."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
    return members


def _web_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _terminal_signals() -> None:
    for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


class Run:
    """One `make run` of platform/run.sh, its output in ``log``."""

    def __init__(self, env: dict, log: Path):
        self.log, self.port = log, int(env["PORT"])
        with open(log, "w") as out:
            command = ["bash", "platform/run.sh"]
            # As from a terminal, no signal is ignored: a run started in the background (nohup, `&` in a script)
            # inherits SIGINT, SIGQUIT or SIGHUP ignored, and bash cannot trap a signal ignored when it starts.
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_terminal_signals,
            )

    def text(self) -> str:
        return self.log.read_text()

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"platform/run.sh ended:\n{self.text()[-3000:]}")
        return "ready." in self.text() and "generation.model_loaded" in self.text() and _web_answers(self.port)

    def ctrl_c(self, *, times: int = 1) -> float:
        """SIGINT to the whole group, as a terminal's Ctrl-C (``times`` of them, a second after each other);
        returns how long until every process of the group ended."""
        started = time.monotonic()
        for press in range(times):
            time.sleep(1 if press else 0)
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=300)
            wait_for(lambda: not _group(self.process.pid), timeout=30, message="every process of the group to end")
        finally:
            for process in _group(self.process.pid):  # only on failure: what is left, so it does not outlive us
                process.kill()
        return time.monotonic() - started


@pytest.fixture
def run_env(smoke_model, media_root, c2pa_dev_ca, tmp_path):
    with private_filesystem_broker(tmp_path / "broker") as broker_env:
        yield {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "MEDIA_ROOT": str(media_root),
            "BACKLOT_MODELS_DIR": str(settings.BACKLOT_MODELS_DIR),
            "BACKLOT_VAR_DIR": str(tmp_path / "var"),
            "BACKLOT_WORKER_HEARTBEAT_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
            "PY": sys.executable,
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
            **c2pa_environment(c2pa_dev_ca),
            **broker_env,
        }


@pytest.fixture
def start_run(run_env, tmp_path):
    """Starts `make run`'s script as ``start_run("name")``; whatever a failed test left of it is killed after."""
    runs = []

    def start(name: str) -> Run:
        runs.append(run := Run(run_env, tmp_path / f"{name}.log"))
        wait_for(run.ready, timeout=120, interval=0.2, message="make run's processes to start")
        return run

    yield start
    for run in runs:
        for process in _group(run.process.pid):
            process.kill()


def _clips(job: RenderJob) -> list[Path]:
    return sorted((Path(settings.MEDIA_ROOT) / "renders" / str(job.owner_id)).glob(f"{job.pk}*.mp4"))


@pytest.mark.parametrize(
    ("presses", "stopped_as"),
    [
        (1, RenderJob.State.SUCCEEDED),  # a warm stop: the clip being rendered is finished and stored first
        (2, RenderJob.State.RUNNING),  # a cold stop: the render is cut off, and taken back at the next start
    ],
)
def test_ctrl_c_mid_render_then_make_run_again_finishes_the_job_once_and_leaves_nothing_running(
    presses, stopped_as, start_run, tester, settings, media_root
):
    settings.MEDIA_ROOT = str(media_root)
    started = time.monotonic()
    first = start_run("run-1")
    render = SHORT if presses == 1 else LONG
    job = job_create(owner=tester, prompt="a tram at dusk", seed=5, guidance_scale=3.0, **render)
    wait_for(lambda: RenderJob.objects.get(pk=job.pk).progress_step >= 2, timeout=60, message="two steps")

    stop_seconds = first.ctrl_c(times=presses)

    after_stop = RenderJob.objects.get(pk=job.pk)
    assert after_stop.state == stopped_as, after_stop.error
    assert after_stop.progress_step < render["num_steps"] or presses == 1
    assert bool(_clips(after_stop)) == (presses == 1), "stored only by the warm stop"
    assert "Stopping: the worker finishes the clip" in first.text()

    second = start_run("run-2")
    done = wait_for(
        lambda: (j := RenderJob.objects.get(pk=job.pk)).is_finished and j, timeout=300, message="the job to finish"
    )
    second.ctrl_c()

    assert done.state == RenderJob.State.SUCCEEDED, done.error
    assert done.attempts == presses, "run once, or once more after a cold stop"
    assert done.progress_step == render["num_steps"] and len(_clips(done)) == 1, "stored once"
    assert grant_usage(done.grant)["seconds_total"] == pytest.approx(done.gpu_seconds), "charged once"
    assert not RenderJob.objects.filter(state=RenderJob.State.RUNNING).exists()
    # Only make run's worker: the session's own e2e worker may be alive in this test database.
    assert set(Worker.objects.filter(hostname__startswith="demo@").values_list("state", flat=True)) == {
        Worker.State.STOPPED
    }
    print(
        f"\nmake run, {presses} Ctrl-C mid-render: every process ended in {stop_seconds:.1f} s with the job "
        f"{after_stop.state} at step {after_stop.progress_step}; after the restart it ended {done.state} as attempt "
        f"{done.attempts}; "
        f"{time.monotonic() - started:.1f} s in all"
    )
