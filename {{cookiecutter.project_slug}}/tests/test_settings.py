"""Each environment's settings come from the environment, as the README says."""

import os
import re
import socket
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.startup import LOCAL, PRODUCTION, default_settings_module, use_default_settings

REQUIRED_IN_PRODUCTION = {
    "DJANGO_SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-0123456789",
    "DJANGO_ALLOWED_HOSTS": "example.herokuapp.com",
    "DATABASE_URL": "postgres://user:password@db.example.com:5432/iot",
    "EMAIL_URL": "smtp+tls://alerts:password@smtp.example.com:587",
    "DJANGO_ADMINS": "Ann <ann@example.com>, bob@example.com",
{%- if cookiecutter.scheduler == "celery-beat" %}
    "REDIS_URL": "redis://redis.example.com:6379/0",
{%- endif %}
{%- if cookiecutter.use_mqtt %}
    "MQTT_URL": "mqtts://consumer:password@mqtt.example.com:8883",
{%- endif %}
{%- if cookiecutter.use_sentry %}
    # Nothing listens there: events sent while testing are refused at once.
    "SENTRY_DSN": "http://public@127.0.0.1:9/1",
{%- endif %}
}


def test_local_settings_use_sqlite_without_database_url(settings_module):
    local = settings_module("config.settings.local")

    assert local.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("MONITOR_INTERVAL_SECONDS", "abc", "MONITOR_INTERVAL_SECONDS='abc' cannot be read as a"),
        ("OBSERVATION_RETENTION_DAYS", "0", "OBSERVATION_RETENTION_DAYS=0 must be at least 1."),
        ("SILENT_AFTER_INTERVALS", "-1", "SILENT_AFTER_INTERVALS=-1 must be at least 1."),
        ("WEBHOOK_REPLAY_WINDOW_SECONDS", "5m", "WEBHOOK_REPLAY_WINDOW_SECONDS='5m' cannot be"),
        ("DATABASE_URL", "postgress://iot:hunter2@db.example.com/iot", "DATABASE_URL is not a"),
    ],
)
def test_a_value_the_project_cannot_use_is_refused_naming_its_variable(
    settings_module, variable, value, says, recwarn
):
    # A retention of 0 days would prune every reading, and every job's record with them.
    with pytest.raises(ImproperlyConfigured, match=re.escape(says)):
        settings_module("config.settings.local", **{variable: value})

    assert not [warning for warning in recwarn if "hunter2" in str(warning.message)]


def test_database_url_selects_postgresql(settings_module):
    local = settings_module("config.settings.local", DATABASE_URL="postgres://u@localhost:5432/iot")

    assert local.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.mark.parametrize("dyno", ["web.1", "release.2", "scheduler.4821", "run.9157"])
def test_every_heroku_dyno_runs_production_settings(dyno):
    assert default_settings_module({"DYNO": dyno}) == PRODUCTION


def test_anywhere_else_runs_local_settings():
    assert default_settings_module({"PORT": "8000"}) == LOCAL


@pytest.fixture
def dot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A developer's .env, one of whose variables is also set in the real environment."""
    path = tmp_path / ".env"
    path.write_text("MONITOR_INTERVAL_SECONDS=7\nSILENT_AFTER_INTERVALS=4\n")
    # Each is put back as it was after the test, set or not.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    monkeypatch.delenv("MONITOR_INTERVAL_SECONDS", raising=False)
    monkeypatch.setenv("SILENT_AFTER_INTERVALS", "5")
    return path


def test_local_settings_read_dot_env_and_the_real_environment_wins(dot_env):
    use_default_settings(dot_env)

    assert os.environ["DJANGO_SETTINGS_MODULE"] == LOCAL
    assert os.environ["MONITOR_INTERVAL_SECONDS"] == "7"
    assert os.environ["SILENT_AFTER_INTERVALS"] == "5"


@pytest.mark.parametrize("module", ["config.settings.test", PRODUCTION])
def test_tests_and_production_never_read_dot_env(dot_env, monkeypatch, module):
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", module)

    use_default_settings(dot_env)

    assert "MONITOR_INTERVAL_SECONDS" not in os.environ


def test_the_tests_read_no_vendor_setting_from_the_shell(settings_in_fresh_process):
    prefix = "{{ cookiecutter.__vendor_module.upper() }}"
    options = "settings.VENDORS['{{ cookiecutter.__vendor_module }}']['OPTIONS']"
    exported = {
        f"{prefix}_WEBHOOK_SECRET": "exported-by-a-developer",
        f"{prefix}_API_URL": "https://api.example.com/",
    }

    result = settings_in_fresh_process(
        "config.settings.test", f"({options}['webhook_secret'], {options}['base_url'])", **exported
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('', '')"


def test_production_loads_with_the_required_variables(settings_in_fresh_process):
    # A process of its own: production settings start error reporting when they load.
    result = settings_in_fresh_process(
        "config.settings.production", "settings.ADMINS", **REQUIRED_IN_PRODUCTION
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('Ann', 'ann@example.com'), ('', 'bob@example.com')]"


@pytest.mark.parametrize("missing", list(REQUIRED_IN_PRODUCTION))
def test_production_refuses_to_start_without_each_required_variable(settings_module, missing):
    variables = {k: v for k, v in REQUIRED_IN_PRODUCTION.items() if k != missing}

    with pytest.raises(ImproperlyConfigured, match=f"Set the {missing} environment variable"):
        settings_module("config.settings.production", **variables)


def test_manage_py_on_a_dyno_without_a_required_variable_says_so_in_one_line(
    manage_in_fresh_process,
):
    variables = {k: v for k, v in REQUIRED_IN_PRODUCTION.items() if k != "EMAIL_URL"}

    result = manage_in_fresh_process("check", DYNO="run.1", **variables)

    assert result.returncode == 1
    assert result.stderr == "Set the EMAIL_URL environment variable\n"


VENDOR_SETTINGS = {
    "{{ cookiecutter.__vendor_module.upper() }}_API_URL": "https://api.example.com/v1/",
    "{{ cookiecutter.__vendor_module.upper() }}_API_TOKEN": "a-token",
}


def every_vendors_settings() -> dict[str, str]:
    """A value for each variable production requires of a vendor: of the first vendor and of
    each one `manage.py startvendor` added since."""
    return {
        setting.variable: VENDOR_SETTINGS.get(setting.variable, "https://api.example.com/v1/")
        for config in settings.VENDORS.values()
        for setting in config.get("SETTINGS", ())
        if setting.required_in_production
    }


@pytest.mark.parametrize("missing", list(VENDOR_SETTINGS))
def test_production_commands_refuse_to_start_without_a_vendor_setting(
    manage_in_fresh_process, missing
):
    vendor = {k: v for k, v in VENDOR_SETTINGS.items() if k != missing}

    result = manage_in_fresh_process("check", DYNO="run.1", **REQUIRED_IN_PRODUCTION, **vendor)

    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if missing in line]
    assert line.startswith(f"?: (vendors.E001) Set the {missing} environment variable:")


def test_send_test_alert_in_production_fails_in_one_line_when_mail_is_refused(
    manage_in_fresh_process,
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    variables = {**REQUIRED_IN_PRODUCTION, **every_vendors_settings()}
    variables["EMAIL_URL"] = f"smtp://127.0.0.1:{closed_port}"

    result = manage_in_fresh_process("send_test_alert", DYNO="run.1", **variables)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("CommandError")]
    assert error.startswith("CommandError: The test alert was not sent: ")
