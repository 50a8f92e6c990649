"""Every environment variable Backlot reads, declared once: name, type, embedded default, help and group.

config/settings.py reads each through ``config.env.env(name)``, which refuses a name not declared here; the
configuration reference (docs/reference/configuration.md) and the production template
(platform/backlot.env.example) are generated from this list by ``python -m config.settings_docs --write``,
and a test fails when either is stale.

A string default may name ``$BACKLOT_VAR_DIR`` or ``$BASE_DIR`` (the checkout), filled in by settings.py.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPES = ("str", "bool", "int", "float", "list", "map")


@dataclass(frozen=True)
class Computed:
    """A default that settings.py works out from other settings; ``shown`` is how the docs say it."""

    shown: str


@dataclass(frozen=True)
class Setting:
    name: str
    type: str
    default: object
    help: str
    group: str
    example: str | None = None  # the value platform/backlot.env.example suggests for production
    production_default: object = None  # where it differs: the default with DEBUG off
    shown: str | None = None  # how the docs show the default, where the literal value would mislead
    read_by: str = "config/settings.py"


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    intro: str = ""


GROUPS = [
    Group("core", "Core"),
    Group("database", "Database"),
    Group("broker", "Broker and workers"),
    Group(
        "models",
        "Models",
        "GPU worker tuning is applied once, when a worker loads its model (generation/acceleration.py).",
    ),
    Group("api", "Requests and the API"),
    Group("leaks", "Leak detection"),
    Group("storage", "Storage"),
    Group("email", "Email"),
    Group("security", "Security (production)", "Read only when DEBUG is off."),
    Group(
        "proxies",
        "The client's address behind proxies",
        "Leak detection, the audit trail, sign-in rate limits, new-network emails and sessions all use the client's "
        "address (core/client_address.py). The header is believed only when the direct peer is listed in "
        "BACKLOT_TRUSTED_PROXIES, and is read from the right past every listed proxy. nginx on this box: "
        "127.0.0.1,::1; a load balancer in front of nginx: add its private network (e.g. 10.0.0.0/8); a CDN in front "
        "of that: add the CDN's published egress ranges. See the operator's handbook, \"Behind nginx, a load "
        'balancer or a CDN".',
    ),
    Group("accounts", "Accounts and sign-in"),
    Group(
        "monitoring",
        "Health, metrics and error reports",
        "What a load balancer and a monitor poll: /livez, /readyz, /metrics (config/health.py). See the operator's "
        'handbook, "What to watch".',
    ),
    Group("bench", "Benchmarks"),
    Group("gunicorn", "gunicorn (platform/gunicorn.conf.py)"),
]

GUNICORN = "platform/gunicorn.conf.py"

SETTINGS = [
    # Core
    Setting(
        "DEBUG",
        "bool",
        True,
        "Development mode. Production sets 0; then SECRET_KEY and ALLOWED_HOSTS are "
        "required, and `manage.py check --deploy` passes with no warnings.",
        "core",
        example="0",
    ),
    Setting(
        "SECRET_KEY",
        "str",
        "backlot-insecure-development-key-never-use-in-production",
        "At least 50 random characters (python -c 'import secrets; print(secrets.token_urlsafe(64))'); refused "
        "in production if missing, short or the development key.",
        "core",
        example="",
        production_default="",
        shown="a development key (none in production)",
    ),
    Setting(
        "ALLOWED_HOSTS",
        "list",
        "localhost,127.0.0.1,[::1]",
        "Host names the site answers to, comma-separated.",
        "core",
        example="backlot.example.org",
        production_default="",
    ),
    Setting(
        "CSRF_TRUSTED_ORIGINS",
        "list",
        "",
        "Origins allowed to send forms (needed behind some proxies), e.g. https://backlot.example.org.",
        "core",
        example="https://backlot.example.org",
    ),
    Setting(
        "SITE_URL",
        "str",
        "http://localhost:8000",
        "The public address, used in emails (invitation links, sign-in notices). `manage.py check --deploy` "
        "warns (access.W001) while it is still a localhost address.",
        "core",
        example="https://backlot.example.org",
    ),
    Setting("TIME_ZONE", "str", "UTC", "Time zone for display.", "core"),
    Setting("LOG_LEVEL", "str", "INFO", "Log level for every process.", "core"),
    Setting(
        "BACKLOT_VAR_DIR",
        "str",
        "$BASE_DIR/var",
        "Where the embedded defaults keep SQLite, the filesystem broker, media and smoke models.",
        "core",
        example="/srv/backlot/var",
        shown="var/ in the checkout",
    ),
    # Database
    Setting(
        "DATABASE_URL",
        "str",
        "sqlite:///$BACKLOT_VAR_DIR/backlot.sqlite3",
        "The database, e.g. postgres://user:pass@host:5432/backlot.",
        "database",
        example="postgres://backlot:password@127.0.0.1:5432/backlot",
    ),
    Setting("DATABASE_CONN_MAX_AGE", "int", 60, "Seconds to keep database connections open (PostgreSQL).", "database"),
    Setting(
        "CACHE_URL",
        "str",
        "",
        "A Redis URL for a shared cache (rate limits, sessions across web workers). Empty: per-process memory.",
        "database",
        example="redis://127.0.0.1:6379/1",
    ),
    # Broker and workers
    Setting(
        "CELERY_BROKER_URL",
        "str",
        "filesystem://",
        "The broker: redis://host:6379/0, amqp://..., or kombu's "
        "filesystem transport in BACKLOT_BROKER_DIR (no server needed).",
        "broker",
        example="redis://127.0.0.1:6379/0",
    ),
    Setting(
        "BACKLOT_BROKER_DIR",
        "str",
        "$BACKLOT_VAR_DIR/broker",
        "The filesystem broker's folder.",
        "broker",
        example="/srv/backlot/var/broker",
    ),
    Setting(
        "BACKLOT_RENDER_TIME_LIMIT",
        "int",
        10800,
        "Hard limit for one render in seconds; the soft limit, which fails the job with a reason, is 60 s less.",
        "broker",
    ),
    Setting(
        "CELERY_VISIBILITY_TIMEOUT",
        "int",
        Computed("BACKLOT_RENDER_TIME_LIMIT + 3600"),
        "Redis redelivers unacknowledged messages after this many seconds; must exceed BACKLOT_RENDER_TIME_LIMIT.",
        "broker",
        example="14400",
    ),
    Setting(
        "BACKLOT_STALE_SECONDS",
        "int",
        900,
        "A running job that has shown no sign of life this long goes back to the queue (checked by beat every "
        "30 s; a job whose worker is gone goes back after three of its heartbeats); once it has cost three "
        "workers it is failed with a reason and refunded.",
        "broker",
    ),
    Setting(
        "BACKLOT_REANNOUNCE_SECONDS",
        "int",
        300,
        "A waiting job unclaimed this long, while its model's broker "
        "queue holds fewer messages than waiting jobs (a Redis restarted without persistence), is announced "
        "again by the same sweep.",
        "broker",
    ),
    Setting(
        "BACKLOT_DATABASE_RETRY_SECONDS",
        "int",
        60,
        "A worker whose database connection breaks mid-render (a "
        "restart, a failover) reconnects and retries its write this long before leaving the job to the "
        "sweeper.",
        "broker",
    ),
    Setting(
        "BACKLOT_WORKER_START_SECONDS",
        "int",
        900,
        "How long a worker's render process may take to start "
        "(loading BACKLOT_PRELOAD_MODELS) before Celery gives up on it; large models from slow disks take "
        "minutes.",
        "broker",
    ),
    Setting(
        "BACKLOT_WORKER_HEARTBEAT_SECONDS",
        "int",
        15,
        "How often each worker writes its state; one silent for three beats shows as offline on the staff "
        "queue page (/staff/queue/), and the sweeper (every 30 s) puts the jobs it was running back in the queue.",
        "broker",
    ),
    Setting(
        "BACKLOT_WORKER_FAILURE_LIMIT",
        "int",
        3,
        "A worker that fails this many renders in a row for faults of its own (an error inside the "
        "pipeline: CUDA, out of memory) marks itself unhealthy and stops taking jobs until staff reset it; one "
        "that cannot load its model does so at once. The jobs it failed go back to the queue.",
        "broker",
    ),
    Setting(
        "BACKLOT_FAIR_SHARE_HOURS",
        "int",
        24,
        "Among a model's waiting jobs, the person who used the least GPU time over this many hours (whole hours, "
        "from the top of the first) goes next.",
        "broker",
    ),
    # Models
    Setting(
        "BACKLOT_MODEL_SOURCES",
        "map",
        "",
        "Where each model loads from, comma-separated: key=hub (the "
        "registry's hub id), key=<hub id> or key=<local folder>. A model not listed loads its smoke build (tiny "
        "random weights) from BACKLOT_MODELS_DIR/smoke/<key>.",
        "models",
        example="ltx-video=hub",
        shown="none (smoke builds)",
    ),
    Setting(
        "BACKLOT_MODELS_DIR",
        "str",
        "$BACKLOT_VAR_DIR/models",
        "Where smoke builds are written and loaded.",
        "models",
        example="/srv/backlot/var/models",
    ),
    Setting("BACKLOT_DEVICE", "str", "auto", "auto (CUDA when available), cuda, cuda:1, cpu.", "models"),
    Setting(
        "BACKLOT_TORCH_DTYPE",
        "str",
        "auto",
        "auto (bfloat16 on GPUs, float32 on CPUs), float16, bfloat16, float32.",
        "models",
    ),
    Setting("BACKLOT_TORCH_THREADS", "int", 0, "CPU threads for torch in a worker; 0 keeps torch's default.", "models"),
    Setting("BACKLOT_VAE_TILING", "bool", False, "Decode in tiles: less GPU memory for long or large clips.", "models"),
    Setting(
        "BACKLOT_CPU_OFFLOAD",
        "str",
        "none",
        "none, model or sequential: keep weights on the CPU until needed, "
        "to fit big models on small cards (slower). GPU only.",
        "models",
    ),
    Setting(
        "BACKLOT_TORCH_COMPILE",
        "bool",
        False,
        "torch.compile the transformer when the model loads (minutes at start, faster steps).",
        "models",
    ),
    Setting(
        "BACKLOT_TORCH_COMPILE_MODE",
        "str",
        "default",
        "default, reduce-overhead, max-autotune or max-autotune-no-cudagraphs.",
        "models",
    ),
    Setting(
        "BACKLOT_CACHE",
        "str",
        "none",
        "A diffusers cache that skips work on steps that change little: none, "
        "first-block, pyramid, faster or taylorseer.",
        "models",
    ),
    Setting(
        "BACKLOT_CACHE_THRESHOLD",
        "float",
        0.05,
        "How much change the first-block cache tolerates before it recomputes (higher is faster, less exact).",
        "models",
    ),
    Setting(
        "BACKLOT_PRELOAD_MODELS",
        "list",
        "",
        "Model keys a worker process loads as it starts, instead of on its "
        "first job (comma-separated). Set it per GPU in /etc/backlot/worker-<index>.env beside "
        "BACKLOT_WORKER_QUEUE.",
        "models",
    ),
    Setting(
        "BACKLOT_POSTPROCESS_INLINE",
        "bool",
        False,
        "1 encodes, marks and stores each clip before the next "
        "render starts (debugging); by default that runs on a thread beside the next render.",
        "models",
    ),
    Setting(
        "BACKLOT_POSTPROCESS_BACKLOG",
        "int",
        1,
        "Rendered clips that may wait for post-processing before the render loop waits too.",
        "models",
    ),
    Setting("BACKLOT_VIDEO_CRF", "int", 18, "H.264 quality: lower is better, 18 is visually lossless.", "models"),
    Setting("BACKLOT_VIDEO_PRESET", "str", "veryfast", "x264 speed preset.", "models"),
    Setting(
        "BACKLOT_WATERMARK_OPACITY",
        "float",
        0.35,
        "Opacity (0 to 1) of the programme name and job code stamped "
        "in a corner of every frame; the invisible per-job mark is always there.",
        "models",
    ),
    Setting(
        "BACKLOT_MEDIA_LINK_SECONDS",
        "int",
        3600,
        "Media links are signed and expire after this many seconds; "
        "every request through one re-checks the owner's access.",
        "models",
    ),
    Setting(
        "BACKLOT_PROGRESS_POLL_SECONDS", "float", 1.0, "How often the job page asks for progress, in seconds.", "models"
    ),
    # Requests and the API
    Setting(
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
        "int",
        2_621_440,
        "The largest request body that is not a file upload "
        "(JSON, forms), in bytes; a larger one is answered 413 with the limit. Films and report attachments are "
        "judged by their own limits (the call's largest file; FEEDBACK_ATTACHMENT_MAX_BYTES), and nginx's "
        "client_max_body_size bounds everything.",
        "api",
    ),
    Setting(
        "API_JSON_MAX_DEPTH",
        "int",
        32,
        "How deeply arrays and objects may nest in an API request's JSON; deeper is answered 400.",
        "api",
    ),
    Setting(
        "API_RATE_PER_PERSON",
        "str",
        "300/min",
        "API requests allowed per signed-in person (DRF throttle syntax: N/sec|min|hour|day).",
        "api",
    ),
    Setting("API_RATE_PER_TOKEN", "str", "120/min", "API requests allowed per API token.", "api"),
    Setting(
        "BACKLOT_RATE_SUBMISSIONS",
        "str",
        "120/h",
        "Render jobs one person may submit (form and API together; "
        "each variation counts), as count/period with period s, m, h or d. Over a limit: 429 and nothing "
        "changes.",
        "api",
    ),
    Setting("BACKLOT_RATE_TOKENS", "str", "10/h", "API tokens one person may create or rotate.", "api"),
    Setting(
        "BACKLOT_RATE_INVITATIONS",
        "str",
        "500/h",
        "Invitations one admin may send (each address and each resend counts).",
        "api",
    ),
    Setting("BACKLOT_RATE_SIGN_IN", "str", "30/m/ip", "Sign-in attempts per address (allauth's syntax).", "api"),
    Setting(
        "BACKLOT_RATE_SIGN_IN_FAILED",
        "str",
        "10/m/ip,5/5m/key",
        "Failed sign-ins per address and per account before it is locked (429).",
        "api",
    ),
    # Leak detection
    Setting(
        "LEAK_MAX_NETWORKS",
        "int",
        3,
        "A session or API token used from more networks than this within the window is suspended and reported.",
        "leaks",
    ),
    Setting("LEAK_WINDOW_MINUTES", "int", 60, "The window for counting networks.", "leaks"),
    Setting(
        "LEAK_IPV4_PREFIX", "int", 24, "IPv4 addresses sharing this many leading bits count as one network.", "leaks"
    ),
    Setting("LEAK_IPV6_PREFIX", "int", 48, "The same for IPv6.", "leaks"),
    Setting("LEAK_BURST_MIN_JOBS", "int", 30, "Jobs in one hour below which no burst is reported.", "leaks"),
    Setting(
        "LEAK_BURST_FACTOR",
        "float",
        10.0,
        "A credential submitting at least LEAK_BURST_MIN_JOBS jobs in an hour "
        "and more than this many times the person's usual hourly rate (over two weeks) is suspended.",
        "leaks",
        example="10",
    ),
    Setting(
        "BACKLOT_C2PA_CERT_CHAIN",
        "str",
        "",
        "PEM file with the C2PA signing certificate first, then its intermediates (not the root). With "
        "BACKLOT_C2PA_KEY, every clip gets signed Content Credentials; empty: clips go unsigned and "
        "`manage.py check` warns. `make run` points it at a development CA (manage.py credentials_dev_ca).",
        "leaks",
        example="/etc/backlot/c2pa/chain.pem",
    ),
    Setting(
        "BACKLOT_C2PA_KEY",
        "str",
        "",
        "PEM file with the signing certificate's private key, unencrypted; refused when group or others may "
        "read it (chmod 600, owned by the user the workers run as).",
        "leaks",
        example="/etc/backlot/c2pa/signer.key",
    ),
    Setting(
        "BACKLOT_C2PA_TRUST_ANCHORS",
        "str",
        "",
        "PEM file of root certificates trusted, beside the C2PA SDK's own list, when the trace reads a "
        "clip's Content Credentials: a clip signed under one reads as valid, any other intact one as untrusted.",
        "leaks",
    ),
    Setting(
        "BACKLOT_C2PA_TSA_URL",
        "str",
        "",
        "RFC 3161 timestamp authority the signature is countersigned by (a network call per clip); "
        "empty signs offline, without a trusted time.",
        "leaks",
    ),
    # Storage
    Setting(
        "MEDIA_STORAGE",
        "str",
        "local",
        "local (the folder MEDIA_ROOT, shared by the web app and every worker: "
        "one box, or NFS on a fleet), s3 (an S3-compatible bucket through django-storages, the optional extra "
        's3: pip install -e ".[s3]"), or a storage class\'s dotted path.',
        "storage",
    ),
    Setting(
        "MEDIA_ROOT",
        "str",
        "$BACKLOT_VAR_DIR/media",
        "Where clips are stored with MEDIA_STORAGE=local; shared between web and workers.",
        "storage",
        example="/srv/backlot/var/media",
    ),
    Setting(
        "AWS_STORAGE_BUCKET_NAME",
        "str",
        "",
        "The bucket, with MEDIA_STORAGE=s3 (required then). Objects are "
        "private; people reach clips only through Backlot's signed links.",
        "storage",
    ),
    Setting(
        "AWS_ACCESS_KEY_ID",
        "str",
        "",
        "The bucket's access key; empty, boto3 finds credentials itself (environment, instance role, ~/.aws).",
        "storage",
    ),
    Setting("AWS_SECRET_ACCESS_KEY", "str", "", "The secret for AWS_ACCESS_KEY_ID.", "storage"),
    Setting(
        "AWS_S3_ENDPOINT_URL",
        "str",
        "",
        "A self-hosted store's address (MinIO, Ceph, R2...), e.g. https://minio.internal:9000; empty: AWS.",
        "storage",
    ),
    Setting("AWS_S3_REGION_NAME", "str", "", "The bucket's region.", "storage"),
    Setting(
        "AWS_S3_ADDRESSING_STYLE",
        "str",
        "",
        "path for most self-hosted stores, virtual for AWS; empty: automatic.",
        "storage",
    ),
    Setting("AWS_LOCATION", "str", "media", "A prefix for Backlot's objects inside the bucket.", "storage"),
    Setting(
        "STATIC_ROOT",
        "str",
        "$BACKLOT_VAR_DIR/static",
        "Where collectstatic puts static files (served by WhiteNoise or nginx).",
        "storage",
        example="/srv/backlot/var/static",
    ),
    # Email
    Setting(
        "EMAIL_BACKEND",
        "str",
        "django.core.mail.backends.console.EmailBackend",
        "Django email backend; "
        "django.core.mail.backends.smtp.EmailBackend for SMTP. The default prints emails to the log, and "
        "`manage.py check --deploy` warns (access.W002) while it is the console backend.",
        "email",
        example="django.core.mail.backends.smtp.EmailBackend",
    ),
    Setting("EMAIL_HOST", "str", "localhost", "SMTP host.", "email", example="smtp.example.org"),
    Setting("EMAIL_PORT", "int", 587, "SMTP port.", "email"),
    Setting("EMAIL_HOST_USER", "str", "", "SMTP user.", "email"),
    Setting("EMAIL_HOST_PASSWORD", "str", "", "SMTP password.", "email"),
    Setting("EMAIL_USE_TLS", "bool", True, "STARTTLS for SMTP.", "email"),
    Setting(
        "DEFAULT_FROM_EMAIL",
        "str",
        "Backlot <backlot@localhost>",
        "Sender of every email.",
        "email",
        example="Backlot <backlot@example.org>",
    ),
    Setting(
        "EMAIL_FILE_PATH",
        "str",
        "$BACKLOT_VAR_DIR/mail",
        "With the file-based backend "
        "(django.core.mail.backends.filebased.EmailBackend, e.g. a staging box), the folder each message is "
        "written to as a file.",
        "email",
        example="/srv/backlot/var/mail",
    ),
    # Security (production)
    Setting("SECURE_SSL_REDIRECT", "bool", True, "Redirect HTTP to HTTPS.", "security"),
    Setting("SECURE_HSTS_SECONDS", "int", 31_536_000, "HSTS max-age.", "security"),
    Setting("SECURE_HSTS_INCLUDE_SUBDOMAINS", "bool", True, "HSTS for subdomains.", "security"),
    Setting("SECURE_HSTS_PRELOAD", "bool", True, "Allow HSTS preloading.", "security"),
    Setting(
        "BEHIND_TLS_PROXY",
        "bool",
        True,
        "Trust X-Forwarded-Proto from the reverse proxy (nginx example in platform/nginx/): only from "
        "BACKLOT_TRUSTED_PROXIES, or from this host when that is empty; anyone else's is ignored.",
        "security",
    ),
    # The client's address
    Setting(
        "BACKLOT_TRUSTED_PROXIES",
        "list",
        "",
        "Reverse proxies whose forwarded client address is believed: "
        "addresses or CIDR networks, comma-separated, unix for gunicorn on a Unix socket. Empty trusts nobody: "
        "every client would look like nginx.",
        "proxies",
        example="127.0.0.1,::1",
        shown="none (trust nobody)",
    ),
    Setting(
        "BACKLOT_CLIENT_IP_HEADER",
        "str",
        "X-Forwarded-For",
        "The header the trusted proxies put the client's "
        "address in (nginx appends to X-Forwarded-For), e.g. X-Real-IP.",
        "proxies",
    ),
    # Accounts and sign-in
    Setting("SESSION_COOKIE_AGE", "int", 1_209_600, "Session lifetime in seconds (two weeks).", "accounts"),
    Setting("MFA_TOTP_ISSUER", "str", "Backlot", "Name shown in authenticator apps.", "accounts"),
    Setting(
        "BACKLOT_STAFF_MFA_REQUIRED",
        "bool",
        True,
        "Staff pages (programme management, leak review, staff API, "
        "Django admin, reviewing and reviewers' film links) open only after TOTP two-factor is set up.",
        "accounts",
    ),
    # Health, metrics and error reports
    Setting(
        "BACKLOT_READY_MIN_FREE_MB",
        "int",
        1024,
        "/readyz fails when the disk under a local media folder has less free space than this many MiB "
        "(0: not checked; S3 media is not checked).",
        "monitoring",
    ),
    Setting(
        "BACKLOT_METRICS_TOKEN",
        "str",
        "",
        "The bearer token Prometheus sends to read /metrics (Authorization: Bearer <token>; "
        "a long random value). /metrics answers 401 without it, and 404 while neither this nor "
        "BACKLOT_METRICS_NETWORKS is set.",
        "monitoring",
        example="<a long random value>",
    ),
    Setting(
        "BACKLOT_METRICS_NETWORKS",
        "list",
        "",
        "Addresses or networks (comma-separated, e.g. 10.0.0.0/8) that may read /metrics; another "
        "address gets 403. With BACKLOT_METRICS_TOKEN set too, both must hold.",
        "monitoring",
    ),
    Setting(
        "BACKLOT_METRICS_WINDOW_MINUTES",
        "int",
        60,
        "The window of the fleet metrics computed from finished jobs (durations, failures, GPU "
        "seconds served) at each scrape of /metrics.",
        "monitoring",
    ),
    Setting(
        "BACKLOT_WORKER_METRICS_PORT",
        "int",
        0,
        "The port a render worker's own metrics are served on (one per GPU worker: set it in "
        "/etc/backlot/worker-<GPU>.env, e.g. 9310 + the GPU index); 0 serves none.",
        "monitoring",
    ),
    Setting(
        "BACKLOT_WORKER_METRICS_HOST",
        "str",
        "127.0.0.1",
        "The address a worker's metrics port listens on; the host's private address when "
        "Prometheus runs on another machine.",
        "monitoring",
    ),
    Setting(
        "BACKLOT_WEB_METRICS_DIR",
        "str",
        "",
        "A folder where every gunicorn process keeps its counters, so that a scrape of any one "
        "of them reports them all: platform/gunicorn.conf.py empties it as gunicorn starts and hands it to "
        "prometheus_client as PROMETHEUS_MULTIPROC_DIR. Empty, each process reports only its own counts.",
        "monitoring",
        example="/srv/backlot/var/prometheus-web",
        read_by=GUNICORN,
    ),
    Setting(
        "SENTRY_DSN",
        "str",
        "",
        "Report errors to Sentry (or a Sentry-compatible service such as GlitchTip) at this DSN; "
        "empty reports nothing.",
        "monitoring",
    ),
    Setting("SENTRY_ENVIRONMENT", "str", "production", "The environment name errors are filed under.", "monitoring"),
    Setting(
        "SENTRY_TRACES_SAMPLE_RATE",
        "float",
        0.0,
        "The share of requests and tasks sent to Sentry as performance traces (0 to 1).",
        "monitoring",
    ),
    Setting(
        "BACKLOT_SENTRY_SEND_PII",
        "bool",
        False,
        "Send personal data to Sentry: prompts, email addresses, tokens, cookies, "
        "authorization headers, client addresses and local variables. Off, config/sentry.py scrubs them.",
        "monitoring",
    ),
    # Benchmarks
    Setting(
        "BACKLOT_QUERY_COUNT_HEADER",
        "bool",
        False,
        "Benchmarks only: each response carries X-DB-Queries, its "
        "number of database queries (bench/load.py turns it on).",
        "bench",
    ),
    # gunicorn
    Setting("GUNICORN_BIND", "str", "127.0.0.1:8000", "gunicorn's address.", "gunicorn", read_by=GUNICORN),
    Setting(
        "GUNICORN_WORKERS",
        "int",
        Computed("2 x cores + 1"),
        "gunicorn worker processes.",
        "gunicorn",
        example="5",
        read_by=GUNICORN,
    ),
    Setting("GUNICORN_THREADS", "int", 4, "Threads per gunicorn worker.", "gunicorn", read_by=GUNICORN),
    Setting("GUNICORN_TIMEOUT", "int", 60, "gunicorn request timeout in seconds.", "gunicorn", read_by=GUNICORN),
    Setting(
        "FORWARDED_ALLOW_IPS",
        "list",
        Computed("BACKLOT_TRUSTED_PROXIES, else 127.0.0.1,::1"),
        "Peers gunicorn "
        "believes X-Forwarded-Proto from (wsgi.url_scheme only; never the client's address). With "
        "BEHIND_TLS_PROXY=1 Django reads X-Forwarded-Proto itself, so this matters only with BEHIND_TLS_PROXY=0.",
        "gunicorn",
        example="127.0.0.1,::1",
        read_by=GUNICORN,
    ),
]

BY_NAME = {setting.name: setting for setting in SETTINGS}
