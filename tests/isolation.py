"""Each pytest-xdist process gets a broker of its own, so the real-worker tests can run side by side: a
worker started by one process must never take another's messages, whose jobs live in another test
database; and, where the processes fill the cores, one CPU thread for torch and numpy. Loaded with ``-p``
(pyproject's addopts), before Django reads its settings from the environment and before torch is imported."""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]


def broker_for(worker: str, environ: dict) -> dict[str, str]:
    """The broker settings for xdist process ``worker`` (``gw0``, ``gw1``…): the next Redis database
    numbers after the configured one, or a folder of its own for the filesystem broker."""
    number = int(worker.removeprefix("gw"))
    url = environ.get("CELERY_BROKER_URL", "filesystem://")
    if url.startswith(("redis://", "rediss://")):
        parts = urlsplit(url)
        database = int(parts.path.strip("/") or 0) + 1 + number
        return {"CELERY_BROKER_URL": urlunsplit(parts._replace(path=f"/{database}"))}
    if url.startswith("filesystem://"):
        var = Path(environ.get("BACKLOT_VAR_DIR") or ROOT / "var")
        folder = Path(environ["BACKLOT_BROKER_DIR"]) if environ.get("BACKLOT_BROKER_DIR") else var / "broker"
        return {"BACKLOT_BROKER_DIR": str(folder.with_name(f"{folder.name}-{worker}"))}
    return {}


def threads_for(environ: dict) -> dict[str, str]:
    """One CPU thread each for torch (OpenMP) and numpy (OpenBLAS) in each of pytest-xdist's processes, when there
    are no more cores than processes (CI and these machines: two of each), and so in every worker and server a test
    starts from it. Their default, a thread per core in every process, makes the processes share the cores with
    threads that wait for each other by spinning: renders through every model (tests/generation/test_models.py)
    took 99 CPU-seconds with it and 33 with one thread. A value the environment sets is kept."""
    workers = int(environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if not workers or workers < (os.cpu_count() or 1):
        return {}
    return {name: environ.get(name) or "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    os.environ.update(broker_for(_worker, os.environ))
    os.environ.update(threads_for(os.environ))
