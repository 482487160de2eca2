"""Each scheduler's baked project installs, passes its own tests on SQLite and PostgreSQL,
has every migration, and passes Django's deployment checks with production settings."""

from __future__ import annotations

import secrets

import pytest

from .baking import POSTGRES_URL, bake, rendered_answers, require_service, run, uv_executable
from .environment import example_values, settings_variables
from .variants import BAKED_SUITES

# What a developer might keep in .env; tests that read it would fail (a slower schedule, a
# vendor that refuses every call). The suites must pass with it there.
A_DEVELOPERS_DOT_ENV = (
    "MONITOR_INTERVAL_SECONDS=30\nSIMULATOR_ERROR_RATE=1\nSILENT_AFTER_INTERVALS=1\n"
)


@pytest.fixture(scope="module", params=list(BAKED_SUITES), ids=list(BAKED_SUITES))
def project(request, tmp_path_factory):
    answers = BAKED_SUITES[request.param]
    root = bake(tmp_path_factory.mktemp(request.param), **answers)
    # One uv cache for every bake: after the first sync, the others link what it downloaded.
    # --locked, as Heroku installs: the bake's uv.lock must match its pyproject.toml.
    run([uv_executable(), "sync", "--locked", "--quiet"], cwd=root)
    with (root / ".env").open("a") as dot_env:
        dot_env.write(A_DEVELOPERS_DOT_ENV)
    return root, rendered_answers(**answers)


def suite_services(answers: dict) -> dict[str, str]:
    """The services a suite is given besides its database: in celery-beat mode, the Redis its
    tests of vendor limits across processes need, in a database no other test uses; with
    MQTT, the broker its consumer's tests publish to, on topics of their own."""
    services = {}
    if answers["scheduler"] == "celery-beat":
        require_service("Redis")
        services["REDIS_URL"] = "redis://127.0.0.1:6379/4"
    if answers["use_mqtt"]:
        require_service("Mosquitto")
        services["MQTT_URL"] = "mqtt://127.0.0.1:1883"
    return services


def manage(project_root, *arguments, **variables):
    return run(
        [uv_executable(), "run", "python", "manage.py", *arguments], project_root, **variables
    )


def test_its_own_suite_passes_on_sqlite(project):
    root, answers = project

    result = run(
        [uv_executable(), "run", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        **suite_services(answers),
    )

    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_its_own_suite_passes_on_postgresql(project):
    require_service("PostgreSQL")
    root, answers = project
    # A database name of its own, so parallel and repeated runs never meet.
    database_url = f"{POSTGRES_URL}/baked_{secrets.token_hex(4)}"

    result = run(
        [uv_executable(), "run", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        DATABASE_URL=database_url,
        **suite_services(answers),
    )

    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_no_migration_is_missing(project):
    root, _ = project

    result = manage(root, "makemigrations", "--check", "--dry-run")

    assert "No changes detected" in result.stdout


def test_production_settings_pass_the_deployment_checks(project):
    root, _ = project
    required = {name for name, needed in settings_variables(root).items() if needed}
    variables = example_values(
        required, DATABASE_URL=f"{POSTGRES_URL}/unused", REDIS_URL="redis://127.0.0.1:6379/0"
    )

    result = manage(
        root,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        **variables,
    )

    assert "System check identified no issues" in result.stdout
