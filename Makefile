# Backlot: `make run` serves the demo on the embedded defaults; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed
# Compiled modules are kept (in __pycache__, which git ignores) even where the environment says not to write them: each
# test process, worker and server otherwise compiles the project, and pytest rewrites every test module, again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install run web worker test test-fast lint docs check bench browser nginx clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned exactly: it comes from local disk as a CPU build (see README).
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[cpu,dev,s3]"
	touch $(STAMP)

install: $(STAMP)

# Clips get Content Credentials signed by a development CA made on first use, unless the environment names
# a real certificate (docs/operators/content-credentials.md).
DEV_C2PA := $(abspath $(or $(BACKLOT_VAR_DIR),var))/c2pa
run web worker check: export BACKLOT_C2PA_CERT_CHAIN ?= $(DEV_C2PA)/dev-chain.pem
run web worker check: export BACKLOT_C2PA_KEY ?= $(DEV_C2PA)/dev-signer.key
run web worker check: export BACKLOT_C2PA_TRUST_ANCHORS ?= $(DEV_C2PA)/dev-ca.pem
run: install
	$(PY) manage.py credentials_dev_ca --if-missing --dir $(DEV_C2PA)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py smoke_build --if-missing
	$(PY) manage.py seed_demo
	@echo "Backlot is starting on http://$(HOST):$(PORT)/ (web app and one worker); Ctrl-C stops both."
	@# The worker (with the sweeper) and the web app: platform/run.sh, which tests/e2e/test_make_run.py runs too.
	@PY=$(PY) HOST=$(HOST) PORT=$(PORT) BACKLOT_VAR_DIR=$(abspath $(or $(BACKLOT_VAR_DIR),var)) bash platform/run.sh

web: install
	$(PY) manage.py credentials_dev_ca --if-missing --dir $(DEV_C2PA)
	$(PY) manage.py runserver $(HOST):$(PORT)

worker: install
	$(PY) manage.py credentials_dev_ca --if-missing --dir $(DEV_C2PA)
	$(VENV)/bin/celery -A config worker --concurrency 1 --prefetch-multiplier 1 --loglevel INFO

# Browser tests drive Debian's Chromium; install it when missing and we are allowed to.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null); \
	  elif command -v sudo >/dev/null; then sudo apt-get install -y -q chromium >/dev/null; \
	  else echo "Chromium is missing: browser tests will be skipped (apt-get install chromium)."; fi; }

# The proxy test (tests/e2e/test_proxy.py) runs Debian's nginx as its own process in front of gunicorn.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q nginx-light >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q nginx-light >/dev/null); \
	  elif command -v sudo >/dev/null; then sudo apt-get install -y -q nginx-light >/dev/null; \
	  else echo "nginx is missing: the proxy test will be skipped (apt-get install nginx-light)."; fi; }

test: install browser nginx
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet
	$(PY) -m ruff format --check .
	$(PY) -m pytest -m "not e2e" --reuse-db -n $(TEST_WORKERS) --durations 20 $(ARGS)
	# The real-worker and browser tests a file at a time in each process: every process starts its own worker,
	# server and browser, on a broker of its own (tests/isolation.py).
	$(PY) -m pytest -m e2e --reuse-db -n $(TEST_WORKERS) --dist loadfile --durations 20 $(ARGS)

# Everything but the real-worker and browser tests (marked e2e) and the heavy ones (marked slow: the mark's attack
# matrix, renders through every model, the API fuzzer; listed in tests/conftest.py), in TEST_WORKERS processes. Both keep their test
# databases between runs (a new migration is applied to them; ARGS=--create-db makes them afresh) and empty them first.
TEST_WORKERS ?= 2
test-fast: install
	$(PY) -m pytest -m "not e2e and not slow" --reuse-db -n $(TEST_WORKERS) $(ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

# The configuration reference and platform/backlot.env.example come from config/settings_spec.py.
docs: install
	$(PY) -m config.settings_docs --write
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

check: install
	$(PY) manage.py credentials_dev_ca --if-missing --dir $(DEV_C2PA)
	$(PY) manage.py check
	DEBUG=0 SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))') ALLOWED_HOSTS=backlot.example.org \
	  SITE_URL=https://backlot.example.org EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend \
	  $(PY) manage.py check --deploy --fail-level WARNING

bench: install
	$(PY) bench/render_path.py

clean:
	rm -rf var .pytest_cache .ruff_cache
