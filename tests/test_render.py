"""Every variant in the render matrix bakes into a clean, complete project."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .baking import bake, rendered_answers
from .environment import (
    ADDON_VARIABLES,
    HEROKU_REDIS_VARIABLES,
    dotenv_example_variables,
    guide_variables,
    procfile,
    settings_variables,
)
from .locking import POST_GEN, lock_problem
from .variants import RENDER_MATRIX

UNRENDERED = re.compile(r"{{|{%")
# Django templates have tags of their own; there only cookiecutter's must not survive.
UNRENDERED_IN_DJANGO_TEMPLATES = re.compile(r"{[{%][^}]*cookiecutter")
# "Redis" but not "Redistribution" (license texts).
CELERY_OR_REDIS = re.compile(r"celery|redis(?![a-z])", re.IGNORECASE)


@pytest.fixture(scope="module", params=list(RENDER_MATRIX), ids=list(RENDER_MATRIX))
def variant(request, tmp_path_factory):
    answers = RENDER_MATRIX[request.param]
    project = bake(tmp_path_factory.mktemp(request.param), **answers)
    return project, rendered_answers(**answers)


def text_files(project: Path):
    for path in sorted(project.rglob("*")):
        if path.is_file() and ".venv" not in path.parts:
            yield path, path.read_text()


def test_nothing_is_left_unrendered(variant):
    project, _ = variant
    for path, text in text_files(project):
        pattern = UNRENDERED_IN_DJANGO_TEMPLATES if path.suffix == ".html" else UNRENDERED
        match = pattern.search(text)
        assert match is None, (
            f"{path.relative_to(project)}: {text[match.start() - 40 : match.end() + 40]!r}"
        )


def test_the_expected_files_are_present_and_absent(variant):
    project, answers = variant
    slug = answers["project_slug"]
    always = [
        ".env",
        ".env.example",
        ".gitignore",
        ".pre-commit-config.yaml",
        ".python-version",
        "Makefile",
        "Procfile",
        "README.md",
        "app.json",
        "manage.py",
        "pyproject.toml",
        "uv.lock",
        "config/settings/base.py",
        "config/settings/local.py",
        "config/settings/production.py",
        "config/settings/test.py",
        "config/alerts.py",
        "config/startup.py",
        "config/urls.py",
        "config/vendor_settings.py",
        "config/wsgi.py",
        f"{slug}/users/models.py",
        f"{slug}/users/migrations/0001_initial.py",
        f"{slug}/devices/models.py",
        f"{slug}/devices/migrations/0001_initial.py",
        f"{slug}/observations/models.py",
        f"{slug}/observations/migrations/0001_initial.py",
        f"{slug}/observations/queries.py",
        f"{slug}/observations/ingest.py",
        f"{slug}/vendors/base.py",
        f"{slug}/vendors/http.py",
        f"{slug}/vendors/example_api.py",
        f"{slug}/vendors/simulator.py",
        f"{slug}/vendors/simulator_api.py",
        f"{slug}/vendors/{answers['__vendor_module']}.py",
        f"{slug}/vendors/checks.py",
        f"{slug}/interactions/jobs.py",
        f"{slug}/interactions/schedule.py",
        f"{slug}/interactions/management/commands/run_job.py",
        f"{slug}/interactions/management/commands/show_schedule.py",
        f"{slug}/interactions/management/commands/seed_demo.py",
        f"{slug}/interactions/management/commands/send_test_alert.py",
        f"{slug}/interactions/checks.py",
        f"{slug}/vendors/limits.py",
        f"{slug}/interactions/health.py",
        f"{slug}/interactions/admin.py",
        f"{slug}/api/views.py",
        f"{slug}/api/urls.py",
        f"{slug}/dashboard/views.py",
        f"{slug}/dashboard/charts.py",
        f"{slug}/dashboard/static/dashboard/poller.js",
        f"{slug}/dashboard/templates/dashboard/device_detail.html",
    ]
    optional = {
        "config/celery.py": answers["scheduler"] == "celery-beat",
        "config/beat.py": answers["scheduler"] == "celery-beat",
        "config/worker_pool.py": answers["scheduler"] == "celery-beat",
        "tests/test_celery.py": answers["scheduler"] == "celery-beat",
        "Procfile.dev": answers["scheduler"] == "celery-beat",
        f"{slug}/interactions/tasks.py": answers["scheduler"] == "celery-beat",
        f"{slug}/interactions/batches.py": answers["scheduler"] == "celery-beat",
        f"{slug}/vendors/redis_limits.py": answers["scheduler"] == "celery-beat",
        f"{slug}/vendors/simulator_redis.py": answers["scheduler"] == "celery-beat",
        "config/sentry.py": answers["use_sentry"],
        "config/mqtt.py": answers["use_mqtt"],
        f"{slug}/interactions/consumer.py": answers["use_mqtt"],
        f"{slug}/interactions/management/commands/consume_mqtt.py": answers["use_mqtt"],
        f"{slug}/vendors/mqtt_push.py": answers["use_mqtt"],
        ".github/workflows/ci.yml": answers["ci"] == "github",
        ".github/dependabot.yml": answers["ci"] == "github",
        # The locks of every dependency set: the bake keeps its own as uv.lock.
        POST_GEN.LOCKS_DIR: False,
        "LICENSE": answers["open_source_license"] != "Not open source",
    }
    for path in always:
        assert (project / path).is_file(), f"{path} is missing"
    for path, wanted in optional.items():
        assert (project / path).exists() == wanted, f"{path} should {'' if wanted else 'not '}exist"


def test_ruff_finds_nothing_to_fix(variant):
    project, _ = variant
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", "."],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}{result.stderr}"


def test_the_license_is_the_chosen_one(variant):
    project, answers = variant
    first_lines = {
        "MIT": "MIT License",
        "BSD-3-Clause": "BSD 3-Clause License",
        "Apache-2.0": "Apache License",
    }
    chosen = answers["open_source_license"]
    if chosen == "Not open source":
        assert not (project / "LICENSE").exists()
        assert "license" not in tomllib.loads((project / "pyproject.toml").read_text())["project"]
        return
    license_text = (project / "LICENSE").read_text()
    assert license_text.strip().splitlines()[0].strip() == first_lines[chosen]
    assert answers["author_name"] in license_text
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["license"] == chosen


def test_pyproject_pins_the_dependencies_the_answers_need(variant):
    project, answers = variant
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    dependencies = pyproject["project"]["dependencies"]
    names = {re.split(r"[\[<>=]", dependency)[0] for dependency in dependencies}

    assert pyproject["project"]["name"] == answers["project_slug"]
    assert pyproject["project"]["requires-python"] == ">=3.11"
    assert "django>=5.2.8,<5.3" in dependencies
    assert {"django-environ", "gunicorn", "psycopg", "whitenoise"} <= names
    assert ("celery" in names) == (answers["scheduler"] == "celery-beat")
    assert ("sentry-sdk" in names) == answers["use_sentry"]
    assert ("paho-mqtt" in names) == answers["use_mqtt"]
    assert all(re.search(r">=\d", dependency) for dependency in dependencies), dependencies
    development_pins = pyproject["dependency-groups"]["dev"]
    assert all(re.search(r">=\d", dependency) for dependency in development_pins), development_pins
    development = {re.split(r"[\[<>=]", dependency)[0] for dependency in development_pins}
    assert {"pytest-django", "factory-boy", "ruff"} <= development
    assert {"mypy", "django-stubs", "djangorestframework-stubs"} <= development
    assert ("celery-types" in development) == (answers["scheduler"] == "celery-beat")
    assert pyproject["tool"]["pytest"]["ini_options"]["DJANGO_SETTINGS_MODULE"] == (
        "config.settings.test"
    )


def test_the_lock_matches_the_pyproject_as_uv_would_write_it(variant):
    project, _ = variant
    packages = tomllib.loads((project / "uv.lock").read_text())["package"]
    names = [package["name"] for package in packages]

    problem = lock_problem(project)

    assert problem is None, problem
    # uv keeps packages sorted by name; the project's own entry moves with its name.
    assert names == sorted(names)


def test_procfile_has_the_processes_the_scheduler_needs(variant):
    project, answers = variant
    processes = procfile(project / "Procfile")
    mqtt = {"mqtt"} if answers["use_mqtt"] else set()

    assert processes["release"] == "python manage.py migrate --noinput"
    assert processes["web"].startswith("gunicorn config.wsgi")
    if answers["use_mqtt"]:
        assert processes["mqtt"] == "python manage.py consume_mqtt"
    if answers["scheduler"] == "celery-beat":
        # No flower: Heroku routes requests to web dynos only.
        assert set(processes) == {"release", "web", "worker", "beat"} | mqtt
        # Heroku stops dynos with SIGTERM; Celery finishes its work on SIGQUIT.
        for name in ("worker", "beat"):
            assert processes[name].startswith("REMAP_SIGTERM=SIGQUIT celery --app config ")
        assert "--queues control,monitor" in processes["worker"]
        assert " beat " in processes["beat"] and " -B" not in processes["worker"]
    else:
        assert set(processes) == {"release", "web"} | mqtt


def test_make_dev_runs_the_consumer_beside_the_worker_with_mqtt(variant):
    project, answers = variant
    if answers["scheduler"] != "celery-beat":
        return
    processes = procfile(project / "Procfile.dev")

    consumer = "python manage.py consume_mqtt" if answers["use_mqtt"] else None
    assert processes.get("mqtt") == consumer


def test_flower_runs_locally_behind_the_password_in_its_variable(variant):
    project, answers = variant
    if answers["scheduler"] != "celery-beat":
        return
    processes = procfile(project / "Procfile.dev")

    assert ("flower" in processes) == answers["use_flower"]
    if answers["use_flower"]:
        assert '--basic-auth="${FLOWER_BASIC_AUTH:?' in processes["flower"]


def test_app_json_asks_heroku_for_what_the_answers_need(variant):
    project, answers = variant
    app = json.loads((project / "app.json").read_text())

    assert app["name"] == answers["project_name"]
    assert app["env"]["DJANGO_SECRET_KEY"]["generator"] == "secret"
    assert "heroku-postgresql" in app["addons"]
    assert ("heroku-redis" in app["addons"]) == (answers["scheduler"] == "celery-beat")
    assert ("scheduler" in app["addons"]) == (answers["scheduler"] == "heroku-scheduler")
    assert ("SENTRY_DSN" in app["env"]) == answers["use_sentry"]
    # One consumer: a second with the same client id would take its session over.
    mqtt = {"mqtt": 1} if answers["use_mqtt"] else {}
    formation = {name: f["quantity"] for name, f in app["formation"].items()}
    if answers["scheduler"] == "celery-beat":
        # Exactly one beat: a second would wait on the first's lock, idle.
        assert formation == {"web": 1, "worker": 1, "beat": 1} | mqtt
    else:
        assert formation == {"web": 1} | mqtt


def addon_variables(app: dict) -> set[str]:
    return set().union(*(ADDON_VARIABLES.get(addon, set()) for addon in app["addons"]))


def test_env_example_and_app_json_name_every_variable_the_settings_read(variant):
    project, _ = variant
    read = set(settings_variables(project))
    app = json.loads((project / "app.json").read_text())

    assert read - dotenv_example_variables((project / ".env.example").read_text()) == set()
    assert read - set(app["env"]) - addon_variables(app) == set()


def test_app_json_requires_what_production_requires(variant):
    project, _ = variant
    required = {name for name, needed in settings_variables(project).items() if needed}
    app = json.loads((project / "app.json").read_text())
    # In app.json a variable is required unless it says otherwise.
    asked_for = {name for name, entry in app["env"].items() if entry.get("required", True)}

    assert required - addon_variables(app) == asked_for - HEROKU_REDIS_VARIABLES


def test_the_deploy_guide_sets_exactly_what_production_requires(variant):
    project, answers = variant
    required = {name for name, needed in settings_variables(project).items() if needed}
    app = json.loads((project / "app.json").read_text())
    redis = HEROKU_REDIS_VARIABLES if answers["scheduler"] == "celery-beat" else set()

    guide = guide_variables((project / "README.md").read_text())

    assert guide == required - addon_variables(app) | redis


def test_pre_commit_runs_ruff_and_django_upgrade(variant):
    project, _ = variant
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}

    assert {"ruff-check", "ruff-format", "trailing-whitespace", "end-of-file-fixer"} <= set(hooks)
    assert hooks["django-upgrade"]["args"] == ["--target-version", "5.2"]


def test_github_ci_runs_make_test_against_its_services(variant):
    project, answers = variant
    workflow_path = project / ".github/workflows/ci.yml"
    if answers["ci"] != "github":
        assert not workflow_path.exists()
        return
    job = yaml.safe_load(workflow_path.read_text())["jobs"]["test"]

    services = {"postgres", "redis"} if answers["scheduler"] == "celery-beat" else {"postgres"}
    assert set(job["services"]) == services
    assert job["env"]["DATABASE_URL"].startswith("postgres://")
    runs = [step["run"] for step in job["steps"] if "run" in step]
    # Heroku installs with `uv sync --locked`: CI refuses a stale lock before anything else.
    # With MQTT, the consumer's tests need a broker: Mosquitto, on the MQTT_URL they read.
    mosquitto = ["sudo apt-get update -qq && sudo apt-get install -y -qq mosquitto"]
    broker = answers["use_mqtt"]
    assert runs == ["uv sync --locked", *(mosquitto if broker else []), "make lint", "make test"]
    assert job["env"].get("MQTT_URL") == ("mqtt://localhost:1883" if broker else None)


def test_dependabot_keeps_the_lock_and_the_actions_current(variant):
    project, answers = variant
    config_path = project / ".github/dependabot.yml"
    if answers["ci"] != "github":
        assert not config_path.exists()
        return
    updates = yaml.safe_load(config_path.read_text())["updates"]

    assert {update["package-ecosystem"]: update["directory"] for update in updates} == {
        "uv": "/",
        "github-actions": "/",
    }
    assert all(update["schedule"]["interval"] == "weekly" for update in updates)


def test_the_env_file_holds_a_secret_key_and_is_ignored_by_git(variant):
    project, _ = variant
    variables = dict(
        line.split("=", 1)
        for line in (project / ".env").read_text().splitlines()
        if line and not line.startswith("#")
    )

    assert len(variables["DJANGO_SECRET_KEY"]) >= 50
    assert ".env" in (project / ".gitignore").read_text().splitlines()


def test_only_celery_beat_mode_mentions_celery_or_redis(variant):
    project, answers = variant
    mentions = [
        path.relative_to(project)
        for path, text in text_files(project)
        if CELERY_OR_REDIS.search(text)
    ]

    if answers["scheduler"] == "celery-beat":
        assert Path("config/celery.py") in mentions
    else:
        assert mentions == []


def test_only_mqtt_bakes_mention_mqtt(variant):
    """Without MQTT, no trace of it: no dependency, command, process, setting, file or word."""
    project, answers = variant
    slug = answers["project_slug"]
    mentions = {
        path.relative_to(project)
        for path, text in text_files(project)
        if "mqtt" in text.lower() or "mqtt" in path.name
    }

    if answers["use_mqtt"]:
        assert {
            Path("Procfile"),
            Path("app.json"),
            Path("pyproject.toml"),
            Path("uv.lock"),
            Path(".env.example"),
            Path("config/settings/base.py"),
            Path(f"{slug}/interactions/management/commands/consume_mqtt.py"),
        } <= mentions
    else:
        assert mentions == set()
