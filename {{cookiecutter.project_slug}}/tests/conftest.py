import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Variables the settings read, and DYNO, which chooses them; each test of settings starts
# without them.
SETTINGS_VARIABLES = (
    "DJANGO_",
    "DYNO",
    "DATABASE_URL",
    "EMAIL_URL",
    "{{ cookiecutter.__vendor_module.upper() }}_API_",
{%- if cookiecutter.scheduler == "celery-beat" %}
    "REDIS_URL",
{%- endif %}
{%- if cookiecutter.use_mqtt %}
    "MQTT_",
{%- endif %}
    "SENTRY_",
)


def fresh_environment(**variables: str) -> dict[str, str]:
    """This process's environment less the variables of settings, plus `variables`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_VARIABLES)}
    return environment | variables


@pytest.fixture(scope="session")
def settings_in_fresh_process():
    """Evaluate an expression on django.conf.settings in a new interpreter.

    Settings are read once per process, so changing the environment needs a new one.
    """

    def evaluate(module: str, expression: str, **variables: str) -> subprocess.CompletedProcess:
        setup = "import django; django.setup(); from django.conf import settings"
        return run_python(
            ["-c", f"{setup}; print({expression})"], DJANGO_SETTINGS_MODULE=module, **variables
        )

    return evaluate


@pytest.fixture
def manage_in_fresh_process():
    """Run manage.py in a new interpreter, with the given variables only, as a dyno would."""

    def manage(*arguments: str, **variables: str) -> subprocess.CompletedProcess:
        return run_python(["manage.py", *arguments], **variables)

    return manage


def run_python(arguments: list[str], **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        env=fresh_environment(**variables),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def settings_module(monkeypatch):
    """Import a settings module afresh, in this process, with the given variables only.

    The module's values are read from its attributes; django.conf.settings is not touched.
    """
    fresh = ("config.settings.base", "config.settings.local", "config.settings.production")

    def load(module: str, **variables: str):
        for name in os.environ:
            if name.startswith(SETTINGS_VARIABLES):
                monkeypatch.delenv(name)
        for name, value in fresh_environment(**variables).items():
            monkeypatch.setenv(name, value)
        for name in fresh:
            monkeypatch.delitem(sys.modules, name, raising=False)
        return importlib.import_module(module)

    return load
