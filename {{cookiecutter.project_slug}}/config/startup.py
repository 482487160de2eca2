"""How every process starts: with which settings, and what stops it.

manage.py, config/wsgi.py (gunicorn)
{%- if cookiecutter.scheduler == "celery-beat" %} and config/celery.py (the worker and beat){% endif %}
call use_default_settings() before Django loads anything, so the choice is made here alone.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

LOCAL = "config.settings.local"
PRODUCTION = "config.settings.production"
# A developer's local settings, git-ignored; written at bake time with a random secret key.
DOT_ENV = Path(__file__).resolve().parent.parent / ".env"

logger = logging.getLogger(__name__)


def default_settings_module(environ: Mapping[str, str] = os.environ) -> str:
    """Production on a Heroku dyno, local settings anywhere else.

    Heroku sets DYNO in every dyno it starts: web and worker processes, the release phase,
    Scheduler jobs and `heroku run`. A laptop, CI and Heroku's build have none. So a plain
    `git push heroku` runs production settings without DJANGO_SETTINGS_MODULE, and manage.py
    on a laptop stays local. Elsewhere than Heroku, set DJANGO_SETTINGS_MODULE.
    """
    return PRODUCTION if environ.get("DYNO") else LOCAL


def use_default_settings(dot_env: Path = DOT_ENV) -> None:
    """Choose the settings module; for local settings, add the variables of .env first.

    Only local settings read .env, and real environment variables win over it: the tests
    (pytest loads config.settings.test itself) and production see exactly the environment
    they are given, whatever a developer keeps in the file.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings_module())
    if os.environ["DJANGO_SETTINGS_MODULE"] == LOCAL and dot_env.exists():
        environ.Env.read_env(dot_env)


class Env(environ.Env):
    """environ.Env that refuses a value it cannot read as what it should be, or a number where
    only a positive one makes sense, with ImproperlyConfigured naming the variable: one line
    (one_line_configuration_errors), not a traceback from deep inside the settings."""

    def get_value(
        self,
        var: str,
        cast: Any = None,
        default: Any = environ.Env.NOTSET,
        parse_default: bool = False,
    ) -> Any:
        try:
            return super().get_value(var, cast, default, parse_default)
        except ValueError:
            kind = {int: "a whole number", float: "a number", bool: "true or false"}.get(cast)
            value = self.ENVIRON.get(var, "")
            raise ImproperlyConfigured(
                f"{var}={value!r} cannot be read{f' as {kind}' if kind else ''}."
            ) from None

    def positive_int(self, var: str, default: int) -> int:
        """A count, an interval or a retention: 0 or less would stop the project's work, or
        prune everything it keeps."""
        value = self.int(var, default=default)
        if value < 1:
            raise ImproperlyConfigured(f"{var}={value} must be at least 1.")
        return value


@contextmanager
def one_line_configuration_errors() -> Iterator[None]:
    """A missing or malformed setting stops the process with its message, not a traceback:
    "Set the EMAIL_URL environment variable" is all a person needs to read."""
    try:
        yield
    except ImproperlyConfigured as error:
        sys.exit(str(error))


def refuse_to_start_unless_checks_pass(process: str) -> None:
    """Run the system checks, as every manage.py command does before it starts, in a process
    that manage.py does not start; an error stops it with one line each."""
    from django.conf import settings
    from django.core import checks

    errors = [m for m in checks.run_checks() if m.is_serious() and not m.is_silenced()]
    if errors:
        sys.exit("\n".join(str(error) for error in errors))
    logger.info("%s started with %s", process, settings.SETTINGS_MODULE)
