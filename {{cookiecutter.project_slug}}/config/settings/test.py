"""Settings for the test suite: fast, isolated, no outside services unless asked for."""

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, {% if cookiecutter.scheduler == "celery-beat" %}IN_PROCESS_BROKER_URL, {% endif %}STORAGES, VENDORS

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False

# The slowest part of creating users in tests is hashing their passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The manifest storage needs collectstatic to have run; tests should not depend on it.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Without collectstatic there is no STATIC_ROOT: let WhiteNoise look files up on demand.
WHITENOISE_AUTOREFRESH = True
# Every vendor's options as declared, whatever the shell exports (a developer's exported
# webhook secret would open a webhook the tests expect closed); tests set what they need.
for declared in VENDORS.values():
    declared["OPTIONS"] = {setting.option: setting.default for setting in declared["SETTINGS"]}
# Tests call the simulated vendor's REST API on a live server.
SIMULATOR_API_ENABLED = True
# ...and receive its pushes, signed with this.
VENDORS["simulator"]["OPTIONS"]["webhook_secret"] = "simulator-webhook-secret"
{%- if cookiecutter.use_mqtt %}
# ...and its pushes over MQTT, on this topic.
VENDORS["simulator"]["OPTIONS"]["mqtt_topic"] = "simulator/pushes"
{%- endif %}
# A vendor call retried in a test waits milliseconds; tests of the backoff set their own.
VENDOR_RETRY_BASE_DELAY = 0.01
VENDOR_RETRY_MAX_DELAY = 0.05

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: jobs and workers under test use connections of their own.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
{%- if cookiecutter.scheduler == "celery-beat" %}

# Tasks run in-process unless a test starts a worker, and never on a developer's Redis.
CELERY_BROKER_URL = IN_PROCESS_BROKER_URL
# The in-memory broker is polled; a test's worker should not idle a second between tasks.
CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.01}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_RESULT_BACKEND = None
# Vendor limits hold within the process too (vendors/limits.py); tests of the limits through
# Redis build their limiters on the Redis they are given.
REDIS_URL = ""
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
{%- endif %}
