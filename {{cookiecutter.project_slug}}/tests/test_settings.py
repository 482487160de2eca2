"""Each environment's settings come from the environment, as the README says."""

REQUIRED_IN_PRODUCTION = {
    "DJANGO_SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-0123456789",
    "DJANGO_ALLOWED_HOSTS": "example.herokuapp.com",
    "DATABASE_URL": "postgres://user:password@db.example.com:5432/iot",
{%- if cookiecutter.scheduler == "celery-beat" %}
    "REDIS_URL": "redis://redis.example.com:6379/0",
{%- endif %}
{%- if cookiecutter.use_sentry %}
    "SENTRY_DSN": "https://public@sentry.example.com/1",
{%- endif %}
}


def test_local_settings_use_sqlite_without_database_url(settings_in_fresh_process):
    result = settings_in_fresh_process(
        "config.settings.local", "settings.DATABASES['default']['ENGINE']"
    )

    assert result.stdout.strip() == "django.db.backends.sqlite3", result.stderr


def test_database_url_selects_postgresql(settings_in_fresh_process):
    result = settings_in_fresh_process(
        "config.settings.local",
        "settings.DATABASES['default']['ENGINE']",
        DATABASE_URL="postgres://user@localhost:5432/iot",
    )

    assert result.stdout.strip() == "django.db.backends.postgresql", result.stderr


def test_production_loads_with_the_required_variables(settings_in_fresh_process):
    result = settings_in_fresh_process(
        "config.settings.production", "settings.ALLOWED_HOSTS", **REQUIRED_IN_PRODUCTION
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['example.herokuapp.com']"


def test_production_refuses_to_start_without_each_required_variable(settings_in_fresh_process):
    for missing in REQUIRED_IN_PRODUCTION:
        variables = {k: v for k, v in REQUIRED_IN_PRODUCTION.items() if k != missing}

        result = settings_in_fresh_process("config.settings.production", "1", **variables)

        assert result.returncode != 0, f"production started without {missing}"
        assert f"Set the {missing} environment variable" in result.stderr
