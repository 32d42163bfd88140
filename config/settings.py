"""Reporting Hub settings: one module, read from the environment (and .env when present).

With nothing set it runs on embedded parts (SQLite, kombu's filesystem broker, a file cache,
local report files, console e-mail). DATABASE_URL, CELERY_BROKER_URL, REDIS_URL, EMAIL_URL switch
it to production parts. Every variable is listed with its default in .env.example.
"""

import os
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from kombu import Exchange, Queue

from config.env import (
    SettingsError,
    database_config,
    email_config,
    env_bool,
    env_choice,
    env_fernet_keys,
    env_int,
    env_list,
    env_networks,
    env_path,
    env_rate,
    env_secret_file,
    env_str,
    env_time_zone,
    env_url,
    read_dotenv,
    redis_apart_check,
    secret_key_check,
    site_url_default,
    storage_config,
)
from config.logs import LOG_FORMATS

BASE_DIR = Path(__file__).resolve().parent.parent
read_dotenv(BASE_DIR / ".env")

VAR_DIR = env_path("VAR_DIR", BASE_DIR / "var", base=BASE_DIR)
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
# SECRET_KEY, else the file SECRET_KEY_FILE names (`make run` makes var/secret_key), else the
# public development key, which start-up refuses outside development (DEBUG off or HOST beyond
# loopback), as it refuses a short key.
SECRET_KEY = (
    env_str("SECRET_KEY", "")
    or env_secret_file("SECRET_KEY_FILE", base=BASE_DIR)
    or DEVELOPMENT_SECRET_KEY
)
DEBUG = env_bool("DEBUG", True)
secret_key_check(
    SECRET_KEY, known=[DEVELOPMENT_SECRET_KEY], debug=DEBUG, host=env_str("HOST", "127.0.0.1")
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "config.apps.HubAdminConfig",  # django.contrib.admin with the project's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as static files: /api/docs/ works offline
    "django_celery_beat",
    "auditlog",
    "accounts",
    "reporting",
    "delivery",
    "events",
    "analytics",
]

MIDDLEWARE = [
    "config.metrics.RequestLatencyMiddleware",  # first: times everything below it
    "django.middleware.security.SecurityMiddleware",
    "config.request_limits.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": database_config(
        "DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}", base=BASE_DIR
    ),
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Seconds a PostgreSQL connection is kept for the next request (checked before reuse):
    # opening one per request costs more than an ingestion batch's insert.
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)


# Report SQL runs on `reporting` aliases that a data source names in its config, so credentials
# never sit in the database. `reporting` is the default database unless REPORTING_DATABASE_URL
# names a replica or a read-only user of it; either way it holds the default database's data, so
# tests read the default test database through it (MIRROR: its own connection, which on
# PostgreSQL sees only committed rows). Report SQL only reads, so on SQLite it takes no IMMEDIATE
# (write-locking) transactions, and it reads uncommitted rows, which only changes anything on a
# shared-cache database (the in-memory test database): there a test's atomic block on this alias
# would otherwise lock out the default's, and its reads would wait on the test's table locks.
# Each REPORTING_DATABASE_<NAME>_URL adds an alias `reporting_<name>` for another database (a
# warehouse): no MIRROR, since its data is not the default database's.
def _reporting_databases() -> dict[str, dict]:

    reporting = (
        database_config("REPORTING_DATABASE_URL", "", base=BASE_DIR)
        if env_str("REPORTING_DATABASE_URL", "").strip()
        else DATABASES["default"]
    )
    options = {k: v for k, v in reporting.get("OPTIONS", {}).items() if k != "transaction_mode"}
    if reporting["ENGINE"] == "django.db.backends.sqlite3":
        options["init_command"] = options.get("init_command", "") + "PRAGMA read_uncommitted = ON;"
    aliases = {"reporting": {**reporting, "OPTIONS": options, "TEST": {"MIRROR": "default"}}}
    for variable, url in sorted(os.environ.items()):
        name = variable.removeprefix("REPORTING_DATABASE_").removesuffix("_URL")
        if variable == f"REPORTING_DATABASE_{name}_URL" and name and url.strip():
            aliases[f"reporting_{name.lower()}"] = database_config(variable, "", base=BASE_DIR)
    return aliases


DATABASES.update(_reporting_databases())


# ANALYTICS_DATABASE_URL: a streaming replica of the default database that the dashboard's
# answers and the analytics datasets read (config/db_router.py) while it is at most
# ANALYTICS_REPLICA_MAX_LAG seconds behind, checked every ANALYTICS_REPLICA_CHECK_SECONDS per
# process; otherwise they read the primary. Like `reporting`, a mirror of the default database
# in tests. Unset: no `analytics` alias, everything reads the default database.
def _analytics_database() -> dict[str, dict]:
    if not env_str("ANALYTICS_DATABASE_URL", "").strip():
        return {}
    replica = database_config("ANALYTICS_DATABASE_URL", "", base=BASE_DIR)
    if replica["ENGINE"] != "django.db.backends.sqlite3":
        replica["CONN_MAX_AGE"] = DATABASES["default"].get("CONN_MAX_AGE", 0)
        # A replica host that does not answer costs a dashboard this long, once per check.
        replica["OPTIONS"] = {"connect_timeout": 3, **replica.get("OPTIONS", {})}
    return {"analytics": {**replica, "TEST": {"MIRROR": "default"}}}


DATABASES.update(_analytics_database())
ANALYTICS_READ_DATABASE = "analytics" if "analytics" in DATABASES else ""
ANALYTICS_REPLICA_MAX_LAG = env_int("ANALYTICS_REPLICA_MAX_LAG", 30, minimum=0)  # seconds
ANALYTICS_REPLICA_CHECK_SECONDS = env_int("ANALYTICS_REPLICA_CHECK_SECONDS", 5, minimum=0)
DATABASE_ROUTERS = ["config.db_router.AnalyticsReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Index names keep the analytics description's names (idx_usage_events_makerspace_timestamp):
# longer than the 30 characters Oracle allows, well within PostgreSQL's 63 and SQLite's none.
SILENCED_SYSTEM_CHECKS = ["models.E034"]

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss"))
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Not a rule: its password_changed() ends the user's refresh tokens whenever a new password
    # is saved, by whichever door (admin, changepassword, a service).
    {"NAME": "accounts.passwords.RefreshTokensEndOnPasswordChange"},
]
# Each wrong password counts against the username; LOGIN_LOCKOUT_FAILURES of them within
# LOGIN_LOCKOUT_WINDOW_MINUTES of the first lock it until a superuser unlocks it in the admin.
AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutModelBackend"]
LOGIN_LOCKOUT_FAILURES = env_int("LOGIN_LOCKOUT_FAILURES", 10, minimum=1)
LOGIN_LOCKOUT_WINDOW = timedelta(minutes=env_int("LOGIN_LOCKOUT_WINDOW_MINUTES", 15, minimum=1))

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by `collectstatic` in production
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"  # uploads such as organisation logos

# --- Files (uploads and report outputs) -----------------------------------------------------
# REPORT_STORAGE_URL (s3://bucket/prefix?endpoint_url=…&region_name=…) puts both on S3 (or a
# server that speaks it), so any web host serves what any worker rendered and any worker reads
# what any web host received: outputs under <prefix>/reports/, uploads (file data sources,
# logos) under <prefix>/uploads/. Unset: local folders, REPORT_OUTPUT_DIR and MEDIA_ROOT.
# Downloads stream through the service, or with REPORT_PRESIGNED_DOWNLOADS answer a redirect
# to a URL of the object signed for REPORT_PRESIGNED_SECONDS (S3 allows at most 7 days).
REPORT_PRESIGNED_DOWNLOADS = env_bool("REPORT_PRESIGNED_DOWNLOADS", False)
REPORT_PRESIGNED_SECONDS = env_int("REPORT_PRESIGNED_SECONDS", 300, minimum=1)
if REPORT_PRESIGNED_SECONDS > 7 * 24 * 3600:
    raise SettingsError(
        "REPORT_PRESIGNED_SECONDS",
        "at most 604800 (7 days, the longest S3 signs a URL for)",
        str(REPORT_PRESIGNED_SECONDS),
    )
STORAGES = {
    "default": storage_config(
        "REPORT_STORAGE_URL",
        local={"BACKEND": "django.core.files.storage.FileSystemStorage"},
        folder="uploads",
        url_seconds=REPORT_PRESIGNED_SECONDS,
    ),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- E-mail ---------------------------------------------------------------------------------
# EMAIL_URL (smtp://user:pass@host:587, smtp+tls://…, smtps://…) or the EMAIL_* variables;
# with neither, mail is printed on the console.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
globals().update(email_config("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Reporting Hub <reports@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # JWT first, so an anonymous API call gets 401 with `WWW-Authenticate: Bearer`.
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "config.request_limits.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "accounts.schema.OrganizationAutoSchema",
    # Counted on the cache (Redis in production) per user, or per address when anonymous;
    # the token views count per address and per username (accounts/throttles.py).
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttles.UserOrAddressThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env_rate("THROTTLE_AUTH_RATE", "10/min"),
        # bench/ingest.py sends 20+ batches a second from one user.
        "ingest": env_rate("THROTTLE_INGEST_RATE", "6000/min"),
        "api": env_rate("THROTTLE_API_RATE", "1200/min"),
    },
    # Per-address limits take the address from config.client_address (TRUSTED_PROXIES).
    "NUM_PROXIES": 0,
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
}
# Request bodies (config/request_limits.py): larger ones get a JSON 413, deeper JSON a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("REQUEST_MAX_BODY_MB", 10, minimum=1) * 2**20
REQUEST_MAX_UPLOAD_SIZE = env_int("REQUEST_MAX_UPLOAD_MB", 100, minimum=1) * 2**20
REQUEST_MAX_JSON_DEPTH = env_int("REQUEST_MAX_JSON_DEPTH", 32, minimum=2)
# Seconds an outage's 503 (database, cache or broker unavailable) asks clients to wait in
# Retry-After (config/outages.py).
OUTAGE_RETRY_AFTER = env_int("OUTAGE_RETRY_AFTER", 10, minimum=1)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 1, minimum=1)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    # A refresh answers a new refresh token and the used one is blacklisted (reuse is a 401);
    # a new password ends access tokens (they carry a hash of the password hash) and, through
    # accounts.passwords, refresh tokens.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "CHECK_REVOKE_TOKEN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Reporting Hub API",
    "DESCRIPTION": (
        "Report templates, executions, schedules, deliveries and usage analytics. "
        "Authenticate with a session or `Authorization: Bearer <JWT>` from /api/v1/auth/token/. "
        "Users in several organisations name one with the `X-Organization` header (slug or id)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for a choice set used under several field names.
    "ENUM_NAME_OVERRIDES": {"RoleEnum": "accounts.models.Role"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.schema.error_responses_declare",
    ],
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", "filesystem://", schemes=("filesystem", "redis", "rediss", "amqp")
)
CELERY_RESULT_BACKEND = env_url(
    "CELERY_RESULT_BACKEND",
    f"file://{VAR_DIR / 'celery' / 'results'}",
    schemes=("file", "redis", "rediss", "rpc"),
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery" / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),  # else ./control in the cwd
        "store_processed": False,
    }
    for _folder in (_broker_dir, VAR_DIR / "celery" / "processed", VAR_DIR / "celery" / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
CELERY_TIMEZONE = TIME_ZONE
# django-celery-beat's scheduler, riding out a database outage (config/beat.py).
CELERY_BEAT_SCHEDULER = "config.beat:DatabaseScheduler"
# Report work is acknowledged only once done, and a worker killed mid-task puts it back on the
# queue; one message at a time per process so a long report does not hold others hostage.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Tasks go to a queue by kind, so long renders never hold up deliveries or the every-minute
# checks (README "Production layout"). A worker without -Q consumes all four. Each queue has a
# direct exchange of its name, as Celery makes for a queue it creates itself.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name)
    for name in ("reports", "deliveries", "analytics", "maintenance")
]
CELERY_TASK_DEFAULT_QUEUE = "maintenance"  # a task without a route (config/tests fails on one)
CELERY_TASK_ROUTES = {
    "business_intelligence.process_report_execution": {"queue": "reports"},
    "business_intelligence.deliver_report": {"queue": "deliveries"},
    "business_intelligence.send_report_summary_notification": {"queue": "deliveries"},
    "analytics.refresh_snapshots": {"queue": "analytics"},
    "analytics.refresh_answer": {"queue": "analytics"},
    "analytics.fold_live_counters": {"queue": "analytics"},
    "business_intelligence.sync_report_data_to_elasticsearch": {"queue": "analytics"},
    # Quick bookkeeping that must not wait behind renders: it creates or re-sends work.
    "business_intelligence.check_scheduled_reports": {"queue": "maintenance"},
    "business_intelligence.run_scheduled_report": {"queue": "maintenance"},
    "business_intelligence.send_report_executions": {"queue": "maintenance"},
    "business_intelligence.retry_report_deliveries": {"queue": "maintenance"},
    "business_intelligence.clean_old_report_outputs": {"queue": "maintenance"},
    "business_intelligence.generate_report_usage_metrics": {"queue": "maintenance"},
    "analytics.purge_old_events": {"queue": "maintenance"},
    "analytics.ensure_event_partitions": {"queue": "maintenance"},
    "reporting_hub.ping": {"queue": "maintenance"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that lost its broker retries every 2, 4 … 30 s for ever; Celery's default gives up
# after 100 tries (about 48 minutes) and the worker exits.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None

# --- Reporting and analytics (names and meanings from the product descriptions) ------------
# REPORT_OUTPUT_DIR and ANALYTICS_REPORT_STORAGE_DIR name one place. When only one is set, both
# use it; when both are set, REPORT_OUTPUT_DIR wins. With neither, var/reports/.
_report_dir_default = env_path("ANALYTICS_REPORT_STORAGE_DIR", VAR_DIR / "reports", base=BASE_DIR)
REPORT_OUTPUT_DIR = env_path("REPORT_OUTPUT_DIR", _report_dir_default, base=BASE_DIR)
ANALYTICS_REPORT_STORAGE_DIR = REPORT_OUTPUT_DIR
# The storage ReportOutput files are saved through (REPORT_STORAGE_URL above).
STORAGES["reports"] = storage_config(
    "REPORT_STORAGE_URL",
    local={
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(REPORT_OUTPUT_DIR)},
    },
    folder="reports",
    url_seconds=REPORT_PRESIGNED_SECONDS,
)
REPORT_TEMPLATE_DIR = env_path(
    "REPORT_TEMPLATE_DIR", BASE_DIR / "templates" / "reports", base=BASE_DIR
)
ELASTICSEARCH_ENABLED = env_bool("ELASTICSEARCH_ENABLED", False)
ELASTICSEARCH_URL = env_url("ELASTICSEARCH_URL", "http://localhost:9200", schemes=("http", "https"))
# Further clusters `elasticsearch` data sources may name: ELASTICSEARCH_<NAME>_URL -> "<name>".
ELASTICSEARCH_CLUSTERS = {
    _name.removeprefix("ELASTICSEARCH_").removesuffix("_URL").lower(): env_url(
        _name, "", schemes=("http", "https")
    )
    for _name in sorted(os.environ)
    if _name.startswith("ELASTICSEARCH_")
    and _name.endswith("_URL")
    and _name not in ("ELASTICSEARCH_URL", "ELASTICSEARCH_TEST_URL")
}
ANALYTICS_CACHE_TTL = env_int("ANALYTICS_CACHE_TTL", 300)
# How far behind the data an analytics answer may be: a stale answer younger than this is
# served while a background task refreshes it (analytics.cache). 0: never behind.
ANALYTICS_MAX_STALENESS = env_int("ANALYTICS_MAX_STALENESS", 60)
ANALYTICS_USE_MOCK_DATA = env_bool("ANALYTICS_USE_MOCK_DATA", False)
ANALYTICS_MAX_REPORT_AGE_DAYS = env_int("ANALYTICS_MAX_REPORT_AGE_DAYS", 30, minimum=1)
ANALYTICS_BATCH_SIZE = env_int("ANALYTICS_BATCH_SIZE", 1000, minimum=1)
# Store a keyed hash instead of each event's user_id (the key: ANALYTICS_PSEUDONYMIZE_KEY).
ANALYTICS_PSEUDONYMIZE_USERS = env_bool("ANALYTICS_PSEUDONYMIZE_USERS", False)
ANALYTICS_PSEUDONYMIZE_KEY = env_str("ANALYTICS_PSEUDONYMIZE_KEY", SECRET_KEY)
# Days usage events are kept (a daily task deletes older ones); 0 keeps them for ever.
ANALYTICS_EVENT_RETENTION_DAYS = env_int("ANALYTICS_EVENT_RETENTION_DAYS", 0)
REPORT_QUERY_TIMEOUT = env_int("REPORT_QUERY_TIMEOUT", 300, minimum=1)  # seconds
# A render past the soft limit ends `failed` saying so; one stuck past the hard limit (in C code
# that never returns to Python) is killed, and its lease running out queues it again.
REPORT_SOFT_TIME_LIMIT = env_int("REPORT_SOFT_TIME_LIMIT", 1800, minimum=1)  # seconds
REPORT_TIME_LIMIT = env_int("REPORT_TIME_LIMIT", REPORT_SOFT_TIME_LIMIT + 60, minimum=2)
if REPORT_TIME_LIMIT <= REPORT_SOFT_TIME_LIMIT:
    raise SettingsError(
        "REPORT_TIME_LIMIT",
        f"more than REPORT_SOFT_TIME_LIMIT ({REPORT_SOFT_TIME_LIMIT}), or the soft limit never "
        "gets to end the run with a readable error",
        str(REPORT_TIME_LIMIT),
    )
# Report SQL on PostgreSQL runs as one login role per organisation (accounts/database_roles.py):
# their passwords are derived from this key (SECRET_KEY when unset); at most this many
# connections per organisation at once.
REPORTING_ROLE_KEY = env_str("REPORTING_ROLE_KEY", "")
REPORTING_ROLE_CONNECTION_LIMIT = env_int("REPORTING_ROLE_CONNECTION_LIMIT", 10, minimum=1)
# Rows per table shown in PDF and HTML outputs; a cut table says so in the output.
REPORT_PDF_MAX_ROWS = env_int("REPORT_PDF_MAX_ROWS", 200_000, minimum=1)
REPORT_HTML_MAX_ROWS = env_int("REPORT_HTML_MAX_ROWS", 10_000, minimum=1)
REPORT_LINK_MAX_AGE_DAYS = env_int("REPORT_LINK_MAX_AGE_DAYS", 7, minimum=1)
# The address people reach this service at, for links in e-mails and webhooks. Unset, the
# address `make run` serves (HOST and PORT; loopback when HOST binds every interface).
SITE_URL = env_url("SITE_URL", site_url_default(), schemes=("http", "https"))
DELIVERY_EMAIL_MAX_ATTACHMENT_MB = env_int("DELIVERY_EMAIL_MAX_ATTACHMENT_MB", 10, minimum=0)
# Hosts outbound webhooks may reach even on private or loopback addresses (host or host:port).
DELIVERY_ALLOWED_HOSTS = env_list("DELIVERY_ALLOWED_HOSTS", [])
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 6, minimum=1)
DELIVERY_WEBHOOK_TIMEOUT = env_int("DELIVERY_WEBHOOK_TIMEOUT", 10, minimum=1)  # seconds
# A delivery attempt holds its delivery this long; its task is stopped a minute before (soft
# limit two minutes before), so no attempt outlives its lease and a second one never overlaps.
# A worker that dies mid-attempt delays that delivery by the lease plus up to a minute.
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 600, minimum=180)
# Folders local storage targets write under, each organisation only in <root>/<its id>/
# (relative paths in the first). Never empty: an empty value keeps VAR_DIR/deliveries.
DELIVERY_STORAGE_ROOTS = [
    BASE_DIR / Path(root).expanduser() for root in env_list("DELIVERY_STORAGE_ROOTS", [])
] or [VAR_DIR / "deliveries"]
# Folder `file` data sources may read by relative path (besides files uploaded to them).
REPORT_DATA_DIR = env_path("REPORT_DATA_DIR", VAR_DIR / "data", base=BASE_DIR)
# Hosts (or host:port) `api` data sources may reach on private or loopback addresses.
DATASOURCE_ALLOWED_HOSTS = env_list("DATASOURCE_ALLOWED_HOSTS", [])
# Keys that encrypt secrets at rest (webhook secrets, S3 keys): Fernet keys, the first
# encrypts, all decrypt. Unset, development derives one from SECRET_KEY; production sets it.
FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEYS")
# Addresses (or networks) of the proxies whose X-Forwarded-For the access log believes.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")


# Redis servers `redis` data sources may read: REPORTING_REDIS_URL is "default", each
# REPORTING_REDIS_<NAME>_URL adds "<name>"; none unless set. None of them may be the service's
# own cache, broker or result backend, whose keys hold other organisations' cached answers and
# task payloads: start-up stops on one that is.
def _reporting_redis() -> dict[str, str]:
    service_urls = {
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": CELERY_BROKER_URL,
        "CELERY_RESULT_BACKEND": CELERY_RESULT_BACKEND,
    }
    connections = {}
    for variable in sorted(os.environ):
        name = variable.removeprefix("REPORTING_REDIS_").removesuffix("_URL")
        if variable == "REPORTING_REDIS_URL":
            name = "default"
        elif not (name and variable == f"REPORTING_REDIS_{name}_URL"):
            continue
        url = env_url(variable, "", schemes=("redis", "rediss"))
        if url:
            connections[name.lower()] = redis_apart_check(variable, url, service_urls=service_urls)
    return connections


REPORTING_REDIS = _reporting_redis()


# Which organisations may use each named connection besides the ConnectionGrant rows a superuser
# adds in the admin: organisation slugs, comma-separated, in a variable beside the connection's
# URL. REPORTING_DATABASE_<NAME>_ORGS grants `reporting_<name>`, REPORTING_REDIS_ORGS and
# ELASTICSEARCH_ORGS the "default" ones, REPORTING_REDIS_<NAME>_ORGS and ELASTICSEARCH_<NAME>_ORGS
# the named ones. A grant for a connection that is not configured is a typo: start-up stops.
def _connection_grants(
    prefix: str, *, configured: Iterable[str], default: str = "", alias_prefix: str = ""
) -> dict[str, list[str]]:
    grants = {}
    for variable in sorted(os.environ):
        name = variable.removeprefix(prefix).removesuffix("_ORGS")
        if default and variable == f"{prefix}ORGS":
            connection = default
        elif name and variable == f"{prefix}{name}_ORGS":
            connection = alias_prefix + name.lower()
        else:
            continue
        slugs = env_list(variable, [])
        if slugs and connection not in configured:
            url_variable = variable.removesuffix("_ORGS") + "_URL"
            raise SettingsError(variable, f"empty unless {url_variable} is set", ",".join(slugs))
        grants[connection] = slugs
    return grants


REPORTING_CONNECTION_GRANTS = {
    "database": _connection_grants(
        "REPORTING_DATABASE_",
        configured=[alias for alias in DATABASES if alias.startswith("reporting_")],
        alias_prefix="reporting_",
    ),
    "redis": _connection_grants("REPORTING_REDIS_", configured=REPORTING_REDIS, default="default"),
    "elasticsearch": _connection_grants(
        "ELASTICSEARCH_", configured={"default", *ELASTICSEARCH_CLUSTERS}, default="default"
    ),
}
REPORT_CATCH_UP_MAX = env_int("REPORT_CATCH_UP_MAX", 24, minimum=1)  # slots run after an outage
# Seconds a schedule's slot stays on time: its grace is one interval of its cron (until the next
# slot) and at most this. Only the latest slot can be on time; older ones are missed and run only
# as the schedule's catch-up policy says (reporting/services/schedules.py).
REPORT_SLOT_GRACE = env_int("REPORT_SLOT_GRACE", 300, minimum=1)
# A running execution holds a lease renewed every REPORT_HEARTBEAT_SECONDS by its worker for the
# whole run; once REPORT_LEASE_SECONDS pass without renewal, a redelivered message or the
# every-minute check takes it over. A queued execution whose message was handed to the broker
# REPORT_RESEND_AFTER seconds ago and not claimed is sent again (then after 2x, 4x ... its wait).
REPORT_LEASE_SECONDS = env_int("REPORT_LEASE_SECONDS", 45, minimum=5)
REPORT_HEARTBEAT_SECONDS = env_int(
    "REPORT_HEARTBEAT_SECONDS", max(1, min(10, REPORT_LEASE_SECONDS // 3)), minimum=1
)
if REPORT_HEARTBEAT_SECONDS * 2 > REPORT_LEASE_SECONDS:
    raise SettingsError(
        "REPORT_HEARTBEAT_SECONDS",
        f"at most half of REPORT_LEASE_SECONDS ({REPORT_LEASE_SECONDS}), or a live run loses "
        "its lease",
        str(REPORT_HEARTBEAT_SECONDS),
    )
REPORT_RESEND_AFTER = env_int("REPORT_RESEND_AFTER", 60, minimum=1)
REPORT_MAX_ATTEMPTS = env_int("REPORT_MAX_ATTEMPTS", 3, minimum=1)
REPORT_SPOOL_DIR = env_path("REPORT_SPOOL_DIR", VAR_DIR / "spool", base=BASE_DIR)
REPORT_SPOOL_DIR.mkdir(parents=True, exist_ok=True)

# --- Metrics --------------------------------------------------------------------------------
# Who may read /metrics (config/metrics/views.py): with neither set, this machine only
# (loopback); with a token, requests that send `Authorization: Bearer <token>`; with networks,
# requests from them (the address config.client_address believes); with both, both.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS")

# --- Logging --------------------------------------------------------------------------------
# text: one readable line per record; json: one JSON object per line (config/logs.py).
LOG_FORMAT = env_choice("LOG_FORMAT", "text", choices=LOG_FORMATS)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "filters": {"outage_tracebacks": {"()": "config.outages.OutageTracebackFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # WeasyPrint logs every rendering step at INFO; its warnings are what matter.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # A 503 for an outage, or a task that failed on one, is one line, not a traceback each.
        "django.request": {"filters": ["outage_tracebacks"]},
        "celery.app.trace": {"filters": ["outage_tracebacks"]},
    },
}
