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


@pytest.fixture
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
