"""Settings for production: every Heroku dyno runs them (config/startup.py).

Values that production needs have no default: a missing one stops the process at start-up
with the variable's name, rather than running with a weak fallback.
"""

from email.utils import getaddresses

{% if cookiecutter.use_sentry -%}
from config.sentry import init_sentry

{% endif -%}
from .base import *  # noqa: F403
from .base import env

DEBUG = False
PRODUCTION = True
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

DATABASES = {"default": env.db("DATABASE_URL")}
# Reuse connections between requests; check them first so a restarted database is survived.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
{%- if cookiecutter.scheduler == "celery-beat" %}

# Required: without a broker, tasks would run inside web requests.
REDIS_URL = env("REDIS_URL")
{%- endif %}
{%- if cookiecutter.use_mqtt %}

# Required: the mqtt process receives the vendors' pushes from this broker, not this dyno's.
MQTT_URL = env("MQTT_URL")
{%- endif %}

# Heroku's router terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# It also appends the client's address to X-Forwarded-For: the last entry, which the client
# cannot forge, is what sign-in throttling counts failures by. Add one per proxy in front of it.
FORWARDED_FOR_PROXIES = 1
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Browsers remember HSTS: once served, the site must stay on HTTPS for this long.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)

# Alerts: every ERROR is mailed to ADMINS. Both are required, and production refuses to start
# when mail would reach no one (interactions/checks.py); `manage.py send_test_alert` proves it.
# EMAIL_URL such as smtp+tls://user:password@smtp.example.com:587
vars().update(env.email_url("EMAIL_URL"))
# DJANGO_ADMINS such as "Ann <ann@example.com>, bob@example.com"
ADMINS = getaddresses([env("DJANGO_ADMINS")])
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="{{ cookiecutter.email }}")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "class": "config.redaction.Formatter",
            "format": "%(levelname)s %(name)s %(message)s",
        },
        "mail": {"format": "%(message)s%(held_back)s"},
    },
    "filters": {
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        # One email per incident, not one per repetition of its error.
        "once_per_window": {
            "()": "config.mail_throttle.OncePerWindow",
            "seconds": env.int("ALERT_MAIL_WINDOW_SECONDS", default=3600),
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # Django's, redacting each mail (an exception's message may quote a URL's password),
        # and raising instead of failing silently when send_test_alert asks it to.
        "mail_admins": {
            "class": "config.alerts.AdminAlertHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "once_per_window"],
            "formatter": "mail",
        },
    },
    # As in base.py: Django's own mail_admins would mail each error twice, once unredacted.
    "loggers": {"django": {"handlers": [], "level": "INFO"}},
    # Every ERROR, from a request or a job, is mailed to ADMINS as well as logged.
    "root": {
        "handlers": ["console", "mail_admins"],
        "level": env("DJANGO_LOG_LEVEL", default="INFO"),
    },
}
{%- if cookiecutter.use_sentry %}

init_sentry(dsn=env("SENTRY_DSN"), environment=env("SENTRY_ENVIRONMENT", default="production"))
{%- endif %}
