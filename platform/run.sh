#!/usr/bin/env bash
# The demo's processes, as `make run` starts them once it has migrated and built the smoke model: one Celery
# worker, which also runs the sweeper (--beat), and the web app. tests/e2e/test_make_run.py runs this script.
#
# One Ctrl-C stops both. The worker stops warm: the clip it is rendering is finished and stored first (a
# second Ctrl-C stops it at once; that job is then rendered again when it next starts, as is any job a crash
# left running under its name, which it keeps across restarts). The web app is stopped by the trap.
#
# Environment: PY (the virtualenv's python), HOST, PORT, BACKLOT_VAR_DIR (beat's schedule is kept there),
# BACKLOT_PRELOAD_MODELS (default ltx-video, loaded as the worker starts).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
VAR=$(realpath -m "${BACKLOT_VAR_DIR:-var}")
mkdir -p "$VAR"

stop() {
  # Once only: a second Ctrl-C reaches the worker itself (which then stops at once); this shell waits for it.
  trap '' INT
  trap - TERM
  echo "Stopping: the worker finishes the clip it is rendering (Ctrl-C again to stop it at once)." >&2
  kill -TERM "$worker" "$web" 2>/dev/null
  wait
}
trap stop INT TERM

BACKLOT_PRELOAD_MODELS=${BACKLOT_PRELOAD_MODELS-ltx-video} "$PY" -m celery -A config worker \
  --concurrency 1 --prefetch-multiplier 1 --without-gossip --without-mingle --hostname demo@%h \
  --beat --schedule "$VAR/celerybeat-schedule" --loglevel INFO &
worker=$!
"$PY" manage.py runserver "$HOST:$PORT" --noreload &
web=$!
wait
