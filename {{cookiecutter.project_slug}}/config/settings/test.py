"""Settings for the test suite: fast, isolated, no outside services unless asked for."""

from .base import *  # noqa: F403
from .base import STORAGES

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
