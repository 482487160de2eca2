import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Variables the settings read; each test of settings starts without them.
SETTINGS_VARIABLES = (
    "DJANGO_",
    "DATABASE_URL",
{%- if cookiecutter.scheduler == "celery-beat" %}
    "REDIS_URL",
{%- endif %}
    "SENTRY_",
)


@pytest.fixture(scope="session")
def settings_in_fresh_process():
    """Evaluate an expression on django.conf.settings in a new interpreter.

    Settings are read once per process, so changing the environment needs a new one. The .env
    file is ignored, so that only the variables given here count.
    """

    def evaluate(module: str, expression: str, **variables: str) -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_VARIABLES)}
        environment |= {
            "DJANGO_SETTINGS_MODULE": module,
            "DJANGO_READ_DOT_ENV_FILE": "False",
            **variables,
        }
        setup = "import django; django.setup(); from django.conf import settings"
        code = f"{setup}; print({expression})"
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=PROJECT_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return evaluate


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
        monkeypatch.setenv("DJANGO_READ_DOT_ENV_FILE", "False")
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        for name in fresh:
            monkeypatch.delitem(sys.modules, name, raising=False)
        return importlib.import_module(module)

    return load
