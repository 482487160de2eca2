"""Settings shared by every environment.

Values that differ between environments are read from the environment through django-environ;
local.py, test.py and production.py change only what they must.
"""

{% if cookiecutter.scheduler == "celery-beat" -%}
import ssl
{% endif -%}
import warnings
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config.startup import Env
from config.vendor_settings import VendorSetting, vendor

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Every setting that differs between environments is read from one: config/startup.py adds
# the developer's .env to it for local settings, and nothing else reads that file.
env = Env()

# Local settings turn it on, for a developer's machine only.
DEBUG = False
# Production settings set it: with it, a start-up without what production needs is refused
# (the system checks of vendors/checks.py and interactions/checks.py).
PRODUCTION = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])

# SQLite when DATABASE_URL is unset, so the project runs with nothing installed but Python.
with warnings.catch_warnings():
    # django-environ warns of a URL it cannot read by printing it whole, password and all: the
    # line below says what is wrong instead.
    warnings.simplefilter("ignore", UserWarning)
    DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# A scheme django-environ does not know becomes an "engine" of its own name, not a module.
if "." not in DATABASES["default"].get("ENGINE", ""):
    raise ImproperlyConfigured("DATABASE_URL is not a database URL: postgres://… or sqlite:///…")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Jobs write from several threads: take the write lock when a transaction starts and wait
    # for it, rather than fail with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "{{ cookiecutter.project_slug }}.users",
    "{{ cookiecutter.project_slug }}.devices",
    "{{ cookiecutter.project_slug }}.observations",
    "{{ cookiecutter.project_slug }}.vendors",
    "{{ cookiecutter.project_slug }}.interactions",
    "{{ cookiecutter.project_slug }}.api",
    "{{ cookiecutter.project_slug }}.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "{{ cookiecutter.project_slug }}.users.throttling.SignInThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Our own user model from the first migration: swapping auth.User later is a hard migration.
AUTH_USER_MODEL = "users.User"
# Django's password backend, throttled: every sign-in by password (the API's token, the
# dashboard's and the admin's sign-in pages) goes through it (users/throttling.py).
AUTHENTICATION_BACKENDS = [
    "{{ cookiecutter.project_slug }}.users.throttling.ThrottledModelBackend",
]
# Failed sign-ins allowed within the window, per client address and per username; beyond
# either, attempts are answered 429 with Retry-After until the oldest failure leaves the window.
# Per address, so one client cannot try many passwords, or one password on many accounts; per
# username, higher, so many addresses cannot guess one password, while one address reaches its
# own limit long before it could lock a person out. Counted in the database, which every
# process shares.
SIGN_IN_THROTTLE = {
    "WINDOW_SECONDS": 15 * 60,
    "FAILURES_PER_ADDRESS": 20,
    "FAILURES_PER_USERNAME": 50,
}
# Proxies in front of the project, each appending to X-Forwarded-For the address it was reached
# from; the client's address is read that many entries from the end (users/throttling.py).
# 0 when served directly: REMOTE_ADDR is then the client's.
FORWARDED_FOR_PROXIES = 0

ROOT_URLCONF = "config.urls"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:devices"
LOGOUT_REDIRECT_URL = "login"
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Stored times are UTC; this zone is the one dates are shown in.
TIME_ZONE = "{{ cookiecutter.timezone }}"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise serves compressed, cache-busted files from gunicorn: no separate web server.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Vendors: every device names one. An entry declares the vendor's client and its settings,
# each read from one environment variable (config/vendor_settings.py). The first vendor's entry
# was added by the bake, as `manage.py startvendor "Vendor Name"` adds the next ones'.
VENDORS: dict[str, dict[str, Any]] = {
    "simulator": vendor(
        env,
        "simulator.SimulatorClient",
        # Knobs for demos, tests and benchmarks: slow or faulty vendors on demand.
        VendorSetting("latency", "SIMULATOR_LATENCY", default=0.0),
        VendorSetting("error_rate", "SIMULATOR_ERROR_RATE", default=0.0),
        VendorSetting("timeout_rate", "SIMULATOR_TIMEOUT_RATE", default=0.0),
        VendorSetting("max_concurrent_calls", "SIMULATOR_MAX_CONCURRENT_CALLS", default=0),
        VendorSetting("retry_after", "SIMULATOR_RETRY_AFTER", default=1.0),
        VendorSetting("reading_period", "SIMULATOR_READING_PERIOD", default=60),
        VendorSetting("batch_size", "SIMULATOR_BATCH_SIZE", default=100),
        # What this project allows itself with the simulated vendor (0: no limit), as with a
        # real one (vendors/limits.py): by default, as many calls at once as the vendor
        # itself allows (max_concurrent_calls above), the setting a team sets for a real one.
        VendorSetting(
            "max_calls_at_once",
            "SIMULATOR_MAX_CALLS_AT_ONCE",
            default=env.int("SIMULATOR_MAX_CONCURRENT_CALLS", default=0),
        ),
        VendorSetting("max_requests_per_second", "SIMULATOR_MAX_REQUESTS_PER_SECOND", default=0.0),
        # What its pushes are signed with (manage.py simulate_push); empty: no webhook.
        VendorSetting("webhook_secret", "SIMULATOR_WEBHOOK_SECRET"),
{%- if cookiecutter.use_mqtt %}
        # Where it publishes its pushes (manage.py simulate_push mqtt); empty: not over MQTT.
        VendorSetting("mqtt_topic", "SIMULATOR_MQTT_TOPIC"),
{%- endif %}
    ),
    # manage.py startvendor adds each new vendor above this line.
}
# The simulated vendor's REST API (vendors/simulator_api.py), served by this project.
SIMULATOR_API_ENABLED = env.bool("SIMULATOR_API_ENABLED", default=False)
SIMULATOR_API_TOKEN = env("SIMULATOR_API_TOKEN", default="simulator-token")

# Webhooks (api/webhooks.py): /webhooks/<vendor>/ for each vendor with a webhook_secret.
# A push signed longer ago than this, or later than this ahead, is refused as stale; a signature
# seen within twice this long is refused as a replay.
WEBHOOK_REPLAY_WINDOW_SECONDS = env.int("WEBHOOK_REPLAY_WINDOW_SECONDS", default=300)
# A longer body is refused (413) from its Content-Length, before it is read.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
# A vendor that has pushed, and then sends no verified push for this long, raises an alert
# (0: never).
WEBHOOK_SILENT_AFTER_SECONDS = env.int("WEBHOOK_SILENT_AFTER_SECONDS", default=3600)
{%- if cookiecutter.use_mqtt %}

# MQTT (interactions/consumer.py): `manage.py consume_mqtt` receives the pushes of each vendor
# with an mqtt_topic from this broker; mqtts:// is TLS (config/mqtt.py).
MQTT_URL = env("MQTT_URL", default="mqtt://127.0.0.1:1883")
# The consumer's session on the broker: the broker keeps its subscriptions, and the messages
# they receive, for this long while it is away. The id names the session: one consumer per id.
MQTT_CLIENT_ID = env("MQTT_CLIENT_ID", default="{{ cookiecutter.project_slug }}-consumer")
MQTT_SESSION_EXPIRY_SECONDS = env.int("MQTT_SESSION_EXPIRY_SECONDS", default=7 * 24 * 3600)
# Messages are stored in one transaction per batch, then acknowledged: a batch is stored when
# it holds this many messages (the broker sends at most two batches before they are
# acknowledged)...
MQTT_BATCH_MESSAGES = env.positive_int("MQTT_BATCH_MESSAGES", default=500)
# ...or when its first message has waited this long.
MQTT_BATCH_SECONDS = env.float("MQTT_BATCH_SECONDS", default=1.0)
# A consumer that has received messages, then receives none for this long, raises an alert
# (0: never).
MQTT_SILENT_AFTER_SECONDS = env.int("MQTT_SILENT_AFTER_SECONDS", default=3600)
{%- endif %}

# REST API (api/): every endpoint needs a signed-in user or a token.
REST_FRAMEWORK = {
    # Token first, so that a request without credentials is answered 401 with the scheme to use.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Bodies too deep or too large are a 4xx in JSON, never a 500 (api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "{{ cookiecutter.project_slug }}.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "{{ cookiecutter.project_slug }}.api.parsers.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "{{ cookiecutter.project_slug }}.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "{{ cookiecutter.project_name }} API",
    "DESCRIPTION": (
        "Devices, their readings, their commands, and exports of readings as CSV. Sign in to "
        "the admin for a session, or send `Authorization: Token <key>` with a key from "
        "POST /api/auth/token/ or `manage.py drf_create_token <username>`."
    ),
    "VERSION": "{{ cookiecutter.version }}",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response schemas: read-only fields are not asked of clients.
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs pages load their scripts from this project, not from a CDN: they work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

ADMINS = [("{{ cookiecutter.author_name }}", "{{ cookiecutter.email }}")]
# Error reports hide settings named like secrets, and the credentials of any URL: Django's own
# filter shows a broker's or a cache's URL with its password (config/redaction.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.redaction.ExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Log lines without credentials, even where a library logs a URL (config/redaction.py).
        "plain": {
            "class": "config.redaction.Formatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    # Django's loggers lose the handlers Django gives them, which would print or mail their
    # records a second time, unredacted: the root's handlers write them.
    "loggers": {"django": {"handlers": [], "level": "INFO"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

# Monitoring
MONITOR_INTERVAL_SECONDS = env.positive_int("MONITOR_INTERVAL_SECONDS", default={% if cookiecutter.scheduler == "celery-beat" %}60{% else %}600{% endif %})
OBSERVATION_RETENTION_DAYS = env.positive_int("OBSERVATION_RETENTION_DAYS", default=90)
# A device unheard for this many monitor intervals is silent: flagged, and alerted once.
SILENT_AFTER_INTERVALS = env.positive_int("SILENT_AFTER_INTERVALS", default=3)
# How often each vendor's device list is imported (devices/sync.py): daily by default, as
# devices are added to an account far less often than they are read.
SYNC_DEVICES_INTERVAL_SECONDS = env.positive_int("SYNC_DEVICES_INTERVAL_SECONDS", default=86400)
# A command not confirmed this long after it was asked for fails, with the reason; until then
# the settle_commands job sends again one whose attempt was lost (interactions/delivery.py).
COMMAND_TIMEOUT_SECONDS = env.positive_int("COMMAND_TIMEOUT_SECONDS", default={% if cookiecutter.scheduler == "celery-beat" %}300{% else %}1800{% endif %})
# Exports of readings as CSV (observations/exports.py): what one request may ask for; more is
# refused with a 400 that says so.
EXPORT_MAX_DEVICES = env.positive_int("EXPORT_MAX_DEVICES", default=1000)
EXPORT_MAX_DAYS = env.positive_int("EXPORT_MAX_DAYS", default=366)
{%- if cookiecutter.scheduler == "celery-beat" %}
# The same request within this time gets the export it asked for before, not a new one; a
# file is kept this long for its download, then pruned.
EXPORT_CACHE_SECONDS = env.int("EXPORT_CACHE_SECONDS", default=600)
EXPORT_KEEP_HOURS = env.positive_int("EXPORT_KEEP_HOURS", default=24)
{%- endif %}
# Retries of vendor calls that failed for a passing reason, with capped backoff
# (interactions/retries.py).
VENDOR_MAX_RETRIES = env.int("VENDOR_MAX_RETRIES", default=5)
VENDOR_RETRY_BASE_DELAY = env.float("VENDOR_RETRY_BASE_DELAY", default=2.0)
VENDOR_RETRY_MAX_DELAY = env.float("VENDOR_RETRY_MAX_DELAY", default=300.0)
{%- if cookiecutter.scheduler == "celery-beat" %}

# Celery. Without REDIS_URL, tasks run in-process as they are called, so local development
# needs nothing but Python; with it, they go through Redis to a worker.
REDIS_URL = env("REDIS_URL", default="")
# In-process tasks still pass through a broker connection: one with a host name, for which
# kombu has no "No hostname was supplied" warning.
IN_PROCESS_BROKER_URL = "memory://localhost/"
CELERY_BROKER_URL = REDIS_URL or IN_PROCESS_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Reconnect to Redis for as long as it is gone, rather than stop after 100 tries.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Acknowledged when done, not when received: a task whose worker dies is delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Threads, which stop on Heroku's SIGTERM without a CRITICAL error (config/worker_pool.py).
CELERY_WORKER_POOL = "config.worker_pool:TaskPool"
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis hands a task that was never acknowledged (its worker died) to another worker
    # after this long. It must exceed the time limit plus the longest retry delay, or a slow
    # task would run twice: workers refuse to start otherwise.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # Look for such tasks every 10 s (kombu's default scans on every 10th look only).
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
# Nobody waits for results; those that are stored expire.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_DEFAULT_QUEUE = "monitor"
# Commands a person waits for never queue behind a refresh of every device.
CELERY_TASK_ROUTES = {"interactions.send_command": {"queue": "control"}}
# RedBeat, made to outlive Redis outages: one beat dispatches, whatever happens to Redis.
CELERY_BEAT_SCHEDULER = "config.beat:RedBeatScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
{%- if cookiecutter.use_flower %}
# Flower follows tasks through their events.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
{%- endif %}

# TLS to Redis (rediss://) for the broker, results and cache. Heroku Redis presents a
# self-signed certificate: set REDIS_SSL_CERT_REQS=none there.
_CERT_CHECKS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
REDIS_SSL_OPTIONS = {}
if REDIS_URL.startswith("rediss://"):
    _cert_check = env("REDIS_SSL_CERT_REQS", default="required")
    if _cert_check not in _CERT_CHECKS:
        raise ImproperlyConfigured(
            f"REDIS_SSL_CERT_REQS={_cert_check!r}: give one of {', '.join(_CERT_CHECKS)}."
        )
    REDIS_SSL_OPTIONS = {"ssl_cert_reqs": _CERT_CHECKS[_cert_check]}
    CELERY_BROKER_USE_SSL = REDIS_SSL_OPTIONS
    CELERY_REDIS_BACKEND_USE_SSL = REDIS_SSL_OPTIONS

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_SSL_OPTIONS,
        }
    }
{%- endif %}
