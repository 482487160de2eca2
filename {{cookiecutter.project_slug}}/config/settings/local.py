"""Settings for a developer's machine: `make dev`."""

from .base import *  # noqa: F403
from .base import SIMULATOR_API_TOKEN, VENDORS, env

DEBUG = True
SECRET_KEY = env(
    "DJANGO_SECRET_KEY",
    default="django-insecure-local-only-set-DJANGO_SECRET_KEY-in-.env-for-anything-else",
)
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Devices of the HTTP vendor talk to the simulated vendor's API on this server until
# {{ cookiecutter.__vendor_module.upper() }}_API_URL points at the real one.
SIMULATOR_API_ENABLED = True
http_vendor = VENDORS["{{ cookiecutter.__vendor_module }}"]["OPTIONS"]
http_vendor["base_url"] = http_vendor["base_url"] or "http://127.0.0.1:8000/vendor-simulator/v1/"
http_vendor["api_token"] = http_vendor["api_token"] or SIMULATOR_API_TOKEN
# The simulated vendor pushes to this server (manage.py simulate_push webhook).
simulator = VENDORS["simulator"]["OPTIONS"]
simulator["webhook_secret"] = simulator["webhook_secret"] or "simulator-webhook-secret"
{%- if cookiecutter.use_mqtt %}
# ...and publishes to this topic of the local broker (manage.py simulate_push mqtt).
simulator["mqtt_topic"] = simulator["mqtt_topic"] or "simulator/pushes"
{%- endif %}
