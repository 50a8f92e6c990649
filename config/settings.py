"""Backlot settings. Every value comes from the environment, with embedded defaults that run on
one machine with nothing installed: SQLite, kombu's filesystem broker, a local media folder and the
console email backend. Each variable is declared once, with its type, default and help, in
config/settings_spec.py (the docs' configuration reference and platform/backlot.env.example come from it)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.brokers import filesystem_broker_options
from config.env import env
from config.settings_spec import BY_NAME as _DECLARED
from core.client_address import trusted_proxies_parse

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("BACKLOT_VAR_DIR", BASE_DIR=BASE_DIR)).resolve()

DEBUG = env("DEBUG")

_DEV_SECRET_KEY = _DECLARED["SECRET_KEY"].default  # refused when DEBUG is off
SECRET_KEY = env("SECRET_KEY", production=not DEBUG)
if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off "
        "(for example: python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

ALLOWED_HOSTS = env("ALLOWED_HOSTS", production=not DEBUG)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name this site's host names when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as static files: /api/docs/ works offline
    "django_filters",
    "django_htmx",
    "csp",
    "access",
    "generation",
    "feedback",
    "competition",
    "backups",
]

MIDDLEWARE = [
    "core.metrics.ApiRequestsMiddleware",
    "core.client_address.ForwardedProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.errors.ApiErrorsAsJsonMiddleware",
    "core.errors.BodyLimitMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.headers.PermissionsPolicyMiddleware",
    "config.moved.MovedPagesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "access.middleware.SecondFactorMiddleware",
    "access.middleware.UserSessionsMiddleware",  # allauth's, writing a session's row once a minute, not per request
    "access.middleware.AccessMiddleware",
    "access.middleware.LeakWatchMiddleware",
    "access.middleware.TermsMiddleware",
    "access.middleware.StaffMfaMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "access.context_processors.navigation",
            ],
        },
    },
]

# Database: SQLite in var/ unless DATABASE_URL says otherwise (postgres://user@host:5432/name).
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", BACKLOT_VAR_DIR=VAR_DIR),
        conn_max_age=env("DATABASE_CONN_MAX_AGE"),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: every query here is a short indexed read or write, which JIT never speeds up, and a
    # misestimate (tables not yet analyzed after a bulk load) made PostgreSQL spend 3 s compiling the staff
    # queue's 5 ms fair-order query.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Worker processes must see the test database, so it lives in a file, never in memory.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    # WAL lets the web process read while a worker writes progress.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env("CACHE_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_USER_MODEL = "access.User"
# allauth's backend alone: it is Django's ModelBackend (permissions included) with sign-in by email, and a wrong
# password costs one hash, an unknown address one dummy hash. Both backends ran two for every failed try.
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
# The first page the person can use (config.landing): a reviewer lands on their reviews, not a gallery.
LOGIN_REDIRECT_URL = "home"

# django-allauth: email + password, sign-up closed (access.adapters.AccountAdapter).
ACCOUNT_ADAPTER = "access.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# Sign-in rate limits (allauth's syntax: count/period/ip|key, comma-separated): failed sign-ins per
# address and per account, and sign-in attempts per address.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env("BACKLOT_RATE_SIGN_IN_FAILED"),
    "login": env("BACKLOT_RATE_SIGN_IN"),
}
USERSESSIONS_TRACK_ACTIVITY = True
# allauth's own ALLAUTH_TRUSTED_PROXY_COUNT stays 0: it counts hops without asking who the peer is. Its
# adapter (access.adapters.AccountAdapter.get_client_ip) answers with core.client_address instead.
# Staff (programme admins, reviewers, Django admin) must set up TOTP before using staff pages.
BACKLOT_STAFF_MFA_REQUIRED = env("BACKLOT_STAFF_MFA_REQUIRED")
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# No "trust this browser": every sign-in of an account with an authenticator asks for its code
# (access/two_factor.py ends sessions that did not pass it).
MFA_TRUST_ENABLED = False
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER")

LANGUAGE_CODE = "en"
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", BACKLOT_VAR_DIR=VAR_DIR))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", BACKLOT_VAR_DIR=VAR_DIR))
# Media is never served from a public URL: every clip goes through a view that checks access.
MEDIA_URL = "/media-not-public/"
# Where clips and uploads are kept: "local" (MEDIA_ROOT, a folder web and workers share), "s3" (an
# S3-compatible bucket through django-storages, the optional extra `s3`), or a storage class's dotted path.
MEDIA_STORAGE = env("MEDIA_STORAGE")
if MEDIA_STORAGE == "local":
    _MEDIA_BACKEND: dict = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif MEDIA_STORAGE == "s3":
    if not env("AWS_STORAGE_BUCKET_NAME"):
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    _MEDIA_BACKEND = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            # Unset, boto3 finds credentials itself (environment, instance role, ~/.aws).
            "access_key": env("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env("AWS_SECRET_ACCESS_KEY") or None,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL") or None,  # MinIO, Ceph, R2, ...
            "region_name": env("AWS_S3_REGION_NAME") or None,
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE") or None,  # "path" for most self-hosted stores
            "location": env("AWS_LOCATION"),
            # Private objects; clips still reach people only through Backlot's signed, access-checked links.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif "." in MEDIA_STORAGE:
    _MEDIA_BACKEND = {"BACKEND": MEDIA_STORAGE}
else:
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be local, s3 or a storage class's path, not {MEDIA_STORAGE!r}.")
STORAGES = {
    "default": _MEDIA_BACKEND,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

EMAIL_BACKEND = env("EMAIL_BACKEND")
# With django.core.mail.backends.filebased.EmailBackend: the folder each message is written to as a file.
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", BACKLOT_VAR_DIR=VAR_DIR)
EMAIL_HOST = env("EMAIL_HOST")
EMAIL_PORT = env("EMAIL_PORT")
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security. Production (DEBUG off) passes `manage.py check --deploy` with no warnings.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env("SESSION_COOKIE_AGE")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content Security Policy (django-csp): scripts, styles and everything else from this site only, no
# inline script or style anywhere (htmx comes from our static files, with its injected styles off).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "media-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
# Browser features no page here uses (config/headers.py).
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(self), camera=(), display-capture=(), fullscreen=(self), geolocation=(), "
    "gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), picture-in-picture=(self), usb=()"
)
# The client's address (core/client_address.py): the header below is believed only from these direct
# peers (addresses or networks, comma-separated; "unix" for a Unix-socket peer). Empty trusts nobody, and
# every reader sees REMOTE_ADDR. Behind nginx on the same box: 127.0.0.1,::1; add a load balancer's or a
# CDN's networks when they are in front of nginx.
BACKLOT_TRUSTED_PROXIES = env("BACKLOT_TRUSTED_PROXIES")
trusted_proxies_parse(BACKLOT_TRUSTED_PROXIES)
BACKLOT_CLIENT_IP_HEADER = env("BACKLOT_CLIENT_IP_HEADER").strip()
if not re.fullmatch(r"[A-Za-z0-9-]+", BACKLOT_CLIENT_IP_HEADER):
    raise ImproperlyConfigured(
        f"BACKLOT_CLIENT_IP_HEADER must be a header name such as X-Forwarded-For, not {BACKLOT_CLIENT_IP_HEADER!r}."
    )
if not DEBUG:
    SECURE_SSL_REDIRECT = env("SECURE_SSL_REDIRECT")
    # A load balancer's probe and Prometheus' scrape may come over plain HTTP on a private network.
    SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^readyz$", r"^healthz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env("SECURE_HSTS_SECONDS")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env("SECURE_HSTS_INCLUDE_SUBDOMAINS")
    SECURE_HSTS_PRELOAD = env("SECURE_HSTS_PRELOAD")
    if env("BEHIND_TLS_PROXY"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Request bodies other than file uploads (forms, JSON) are refused over this size with 413; files are judged by
# each upload's own limit (films: the call's; report attachments: FEEDBACK_ATTACHMENT_MAX_BYTES).
DATA_UPLOAD_MAX_MEMORY_SIZE = env("DATA_UPLOAD_MAX_MEMORY_SIZE")
# JSON sent to the API may nest arrays and objects this deep (core/parsers.py).
API_JSON_MAX_DEPTH = env("API_JSON_MAX_DEPTH")

REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.api_auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "access.api_auth.TokenHasScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["access.api_auth.PersonRateThrottle", "access.api_auth.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "person": env("API_RATE_PER_PERSON"),
        "token": env("API_RATE_PER_TOKEN"),
    },
    "DEFAULT_SCHEMA_CLASS": "core.schema.BacklotAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Backlot API",
    "DESCRIPTION": "Render jobs and access for a gated early-access video-model programme.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a field called "kind"; each set of choices gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ReportKindEnum": "feedback.models.Report.Kind",
        "LedgerEntryKindEnum": "feedback.models.LedgerEntry.Kind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "generation.progress.schema_progress_path",
    ],
}

# Celery. The job row is the source of truth; a message carries only the job's id.
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
BROKER_DIR = Path(env("BACKLOT_BROKER_DIR", BACKLOT_VAR_DIR=VAR_DIR))
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
CELERY_TASK_TIME_LIMIT = env("BACKLOT_RENDER_TIME_LIMIT")
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged message to another worker after this long: it must outlast
    # the longest render, or a slow job would run twice.
    _visibility = env("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 3600)
    if _visibility <= CELERY_TASK_TIME_LIMIT:
        raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than BACKLOT_RENDER_TIME_LIMIT.")
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A pool process loads its models as it starts (BACKLOT_PRELOAD_MODELS). Celery kills one that has not
# reported within worker_proc_alive_timeout (4 s by default) and forks another, which loads again and is
# killed again, for ever: a worker whose render process died would never render again.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env("BACKLOT_WORKER_START_SECONDS")
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    # Every 30 s: a vanished worker's jobs are back in the queue within about a minute of its last heartbeat.
    "requeue-stale-renders": {"task": "generation.requeue_stale", "schedule": 30.0},
    "reannounce-waiting-films": {"task": "competition.films_reannounce", "schedule": 60.0},
}

# Rendering.
BACKLOT_MODELS_DIR = Path(env("BACKLOT_MODELS_DIR", BACKLOT_VAR_DIR=VAR_DIR))
# Where each model loads from: model-key=hub-id-or-folder, or model-key=hub for the registry's hub id.
# A model not named here loads its smoke build from BACKLOT_MODELS_DIR/smoke/<key>.
BACKLOT_MODEL_SOURCES = env("BACKLOT_MODEL_SOURCES")
BACKLOT_DEVICE = env("BACKLOT_DEVICE")
BACKLOT_TORCH_DTYPE = env("BACKLOT_TORCH_DTYPE")
BACKLOT_TORCH_THREADS = env("BACKLOT_TORCH_THREADS")
# GPU worker tuning, applied once when a worker loads its model (see generation/acceleration.py).
BACKLOT_VAE_TILING = env("BACKLOT_VAE_TILING")
BACKLOT_CPU_OFFLOAD = env("BACKLOT_CPU_OFFLOAD")  # none, model or sequential: for small cards
BACKLOT_TORCH_COMPILE = env("BACKLOT_TORCH_COMPILE")
BACKLOT_TORCH_COMPILE_MODE = env("BACKLOT_TORCH_COMPILE_MODE")
BACKLOT_CACHE = env("BACKLOT_CACHE")  # none, first-block, pyramid, faster or taylorseer
BACKLOT_CACHE_THRESHOLD = env("BACKLOT_CACHE_THRESHOLD")
# Models a worker process loads as it starts, instead of on its first job (comma-separated keys).
BACKLOT_PRELOAD_MODELS = env("BACKLOT_PRELOAD_MODELS")
# Encoding, marks and storage run beside the next render rather than before it. Inline is for
# debugging; the queue holds at most this many finished renders waiting for post-processing.
BACKLOT_POSTPROCESS_INLINE = env("BACKLOT_POSTPROCESS_INLINE")
BACKLOT_POSTPROCESS_BACKLOG = env("BACKLOT_POSTPROCESS_BACKLOG")
BACKLOT_VIDEO_CRF = env("BACKLOT_VIDEO_CRF")
BACKLOT_VIDEO_PRESET = env("BACKLOT_VIDEO_PRESET")
# How opaque the programme name and job code stamped in a corner of every frame are (0 to 1).
BACKLOT_WATERMARK_OPACITY = env("BACKLOT_WATERMARK_OPACITY")
if not 0.0 <= BACKLOT_WATERMARK_OPACITY <= 1.0:
    raise ImproperlyConfigured("BACKLOT_WATERMARK_OPACITY must be from 0 to 1.")
# Content Credentials: the signing chain and key (checked by generation.credentials_check), the extra
# trust anchors the trace validates against, and an optional timestamp authority.
BACKLOT_C2PA_CERT_CHAIN = env("BACKLOT_C2PA_CERT_CHAIN")
BACKLOT_C2PA_KEY = env("BACKLOT_C2PA_KEY")
BACKLOT_C2PA_TRUST_ANCHORS = env("BACKLOT_C2PA_TRUST_ANCHORS")
BACKLOT_C2PA_TSA_URL = env("BACKLOT_C2PA_TSA_URL")
# Media links are signed and expire after this many seconds; each request re-checks the owner's access.
BACKLOT_MEDIA_LINK_SECONDS = env("BACKLOT_MEDIA_LINK_SECONDS")
BACKLOT_PROGRESS_POLL_SECONDS = env("BACKLOT_PROGRESS_POLL_SECONDS")
# Fair share: among waiting jobs of a model, the person with the least GPU time over this many hours goes next.
BACKLOT_FAIR_SHARE_HOURS = env("BACKLOT_FAIR_SHARE_HOURS")
# A running job with no sign of life from its worker for this long goes back to the queue.
BACKLOT_STALE_SECONDS = env("BACKLOT_STALE_SECONDS")
# A waiting job not claimed for this long, whose model's queue in the broker has fewer messages than
# waiting jobs (a broker restarted without persistence), is announced again.
BACKLOT_REANNOUNCE_SECONDS = env("BACKLOT_REANNOUNCE_SECONDS")
# A worker whose database connection breaks mid-render (a restart, a failover) reconnects and retries
# its write for this long before giving the job up to the sweeper.
BACKLOT_DATABASE_RETRY_SECONDS = env("BACKLOT_DATABASE_RETRY_SECONDS")
# Each worker writes its row this often; one not heard from for three beats is shown as offline.
BACKLOT_WORKER_HEARTBEAT_SECONDS = env("BACKLOT_WORKER_HEARTBEAT_SECONDS")
# A worker that fails this many jobs in a row for faults of its own stops taking jobs (generation/health.py).
BACKLOT_WORKER_FAILURE_LIMIT = env("BACKLOT_WORKER_FAILURE_LIMIT")
if BACKLOT_WORKER_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("BACKLOT_WORKER_FAILURE_LIMIT must be 1 or more.")

# Rate limits per person (core/ratelimits.py), count/period with period s, m, h or d: invitations an
# admin sends (each address counts), API tokens created or rotated, render jobs submitted (form and API
# together, each variation counts). A request over the limit answers 429 and changes nothing.
BACKLOT_RATE_LIMITS = {
    "invitations": env("BACKLOT_RATE_INVITATIONS"),
    "tokens": env("BACKLOT_RATE_TOKENS"),
    "submissions": env("BACKLOT_RATE_SUBMISSIONS"),
}
for _name, _rate in BACKLOT_RATE_LIMITS.items():
    if not re.fullmatch(r"\d+/\d*[smhd]", _rate.strip()):
        raise ImproperlyConfigured(
            f"BACKLOT_RATE_{_name.upper()} must be count/period, e.g. 30/m or 200/h, not {_rate!r}."
        )

# Leak detection: a session or API token used from more than LEAK_MAX_NETWORKS networks (IPv4 /24,
# IPv6 /48 by default) within LEAK_WINDOW_MINUTES, or a person submitting far more jobs in an hour
# than their own history, is suspended and sent to the admins' review page.
LEAK_MAX_NETWORKS = env("LEAK_MAX_NETWORKS")
LEAK_WINDOW_MINUTES = env("LEAK_WINDOW_MINUTES")
LEAK_IPV4_PREFIX = env("LEAK_IPV4_PREFIX")
LEAK_IPV6_PREFIX = env("LEAK_IPV6_PREFIX")
LEAK_BURST_MIN_JOBS = env("LEAK_BURST_MIN_JOBS")
LEAK_BURST_FACTOR = env("LEAK_BURST_FACTOR")

# Benchmarks only: each response carries its number of database queries (config/query_count.py).
BACKLOT_QUERY_COUNT_HEADER = env("BACKLOT_QUERY_COUNT_HEADER")
if BACKLOT_QUERY_COUNT_HEADER:
    MIDDLEWARE.insert(0, "config.query_count.QueryCountMiddleware")

# Health and metrics (config/health.py, core/metrics.py, generation/metrics.py).
BACKLOT_READY_MIN_FREE_MB = env("BACKLOT_READY_MIN_FREE_MB")
BACKLOT_METRICS_TOKEN = env("BACKLOT_METRICS_TOKEN")
BACKLOT_METRICS_NETWORKS = env("BACKLOT_METRICS_NETWORKS")
for _network in BACKLOT_METRICS_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"BACKLOT_METRICS_NETWORKS: {_network!r} is not an address or a network (e.g. 10.0.0.0/8)."
        ) from None
if BACKLOT_METRICS_TOKEN and len(BACKLOT_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("BACKLOT_METRICS_TOKEN must be at least 16 characters (a long random value).")
BACKLOT_METRICS_WINDOW_MINUTES = env("BACKLOT_METRICS_WINDOW_MINUTES")
if BACKLOT_METRICS_WINDOW_MINUTES < 1:
    raise ImproperlyConfigured("BACKLOT_METRICS_WINDOW_MINUTES must be 1 or more.")
BACKLOT_WORKER_METRICS_PORT = env("BACKLOT_WORKER_METRICS_PORT")
BACKLOT_WORKER_METRICS_HOST = env("BACKLOT_WORKER_METRICS_HOST")

# Error reports (config/sentry.py): nothing is sent unless SENTRY_DSN is set, and no personal data unless
# BACKLOT_SENTRY_SEND_PII opts in.
SENTRY_DSN = env("SENTRY_DSN")
BACKLOT_SENTRY_SEND_PII = env("BACKLOT_SENTRY_SEND_PII")
if SENTRY_DSN:
    from config.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT"),
        traces_sample_rate=env("SENTRY_TRACES_SAMPLE_RATE"),
        send_pii=BACKLOT_SENTRY_SEND_PII,
    )

LOG_LEVEL = env("LOG_LEVEL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
