"""The bake hooks, called as the plain modules they are, and through a real bake."""

from __future__ import annotations

import re
import subprocess

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from .baking import PROJECT_TEMPLATE, bake_command, rendered_answers

# What a bake without answers uses: cookiecutter.json's defaults, derived names included.
DEFAULTS = rendered_answers()
# The one name an error suggests, at the end of its line.
SUGGESTION = re.compile(r": use '([a-z0-9_]+)' or another name\.$")


CELERY_ONLY = [
    "Procfile.dev",
    "config/beat.py",
    "config/celery.py",
    "config/worker_pool.py",
    "iot_monitor/dashboard/templates/dashboard/export.html",
    "iot_monitor/interactions/batches.py",
    "iot_monitor/interactions/tasks.py",
    "iot_monitor/interactions/tests/test_tasks.py",
    "iot_monitor/observations/tasks.py",
    "iot_monitor/vendors/redis_limits.py",
    "iot_monitor/vendors/simulator_redis.py",
    "iot_monitor/vendors/tests/redis_callers.py",
    "iot_monitor/vendors/tests/test_redis_limits.py",
    "tests/test_beat.py",
    "tests/test_celery.py",
]
MQTT_ONLY = [
    "config/mqtt.py",
    "iot_monitor/interactions/consumer.py",
    "iot_monitor/interactions/management/commands/consume_mqtt.py",
    "iot_monitor/interactions/tests/test_consumer.py",
    "iot_monitor/interactions/tests/test_consumer_on_a_broker.py",
    "iot_monitor/vendors/mqtt_push.py",
]


def answers(**changes):
    return DEFAULTS | changes


def test_the_default_answers_are_valid(pre_gen):
    assert pre_gen.validate(DEFAULTS) == []


# A name typed as project_slug, or a vendor module cookiecutter was handed, that is refused.
REFUSED_NAMES = [
    ({"project_slug": "Bad-Slug"}, "'Bad-Slug' is not a lowercase Python identifier"),
    ({"project_slug": "2fast"}, "project_slug '2fast' is not a lowercase Python identifier"),
    ({"project_slug": ""}, "project_slug '' is not a lowercase Python identifier"),
    ({"project_slug": "class"}, "project_slug 'class' is a Python keyword"),
    ({"project_slug": "django"}, "project_slug 'django' would shadow the 'django' module"),
    ({"project_slug": "celery"}, "project_slug 'celery' would shadow the 'celery' module"),
    ({"project_slug": "config"}, "project_slug 'config' would shadow the 'config' module"),
    ({"project_slug": "tests"}, "project_slug 'tests' would shadow the 'tests' module"),
    ({"project_slug": "site"}, "project_slug 'site' would shadow the 'site' module"),
    ({"project_slug": "json"}, "project_slug 'json' would shadow the 'json' module"),
    ({"project_slug": "a" * 41}, "is longer than 40 characters"),
    (
        {"vendor_name": "Simulator", "__vendor_module": "simulator"},
        "module name 'simulator', which is taken in the vendors package",
    ),
    (
        {"vendor_name": "Vendor", "__vendor_module": "vendor"},
        "module name 'vendor', which is taken in the vendors package",
    ),
    # Modules the vendors package holds only with some answers are taken with any.
    (
        {"vendor_name": "MQTT Push", "__vendor_module": "mqtt_push"},
        "module name 'mqtt_push', which is taken in the vendors package",
    ),
    (
        {"vendor_name": "Redis Limits", "__vendor_module": "redis_limits"},
        "module name 'redis_limits', which is taken in the vendors package",
    ),
    (
        {"vendor_name": "3D Plugs", "__vendor_module": "3d_plugs"},
        "vendor_name '3D Plugs' makes the module name '3d_plugs', which is not a lowercase",
    ),
    ({"vendor_name": "JSON", "__vendor_module": "json"}, "would shadow the 'json' module"),
    ({"vendor_name": "V" * 31, "__vendor_module": "v" * 31}, "longer than 30 characters"),
]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        *REFUSED_NAMES,
        ({"project_name": "  "}, "project_name is empty"),
        ({"project_name": 'The "Best" Plug'}, "project_name 'The \"Best\" Plug' contains a double"),
        ({"description": "back\\slash"}, "description 'back\\\\slash' contains a double quote"),
        ({"author_name": ""}, "author_name is empty"),
        ({"email": "ada.example.com"}, "email 'ada.example.com' does not look like an email"),
        ({"email": "ada@localhost"}, "email 'ada@localhost' does not look like an email"),
        ({"version": "one"}, "version 'one' is not a version number"),
        ({"version": "1.0-beta"}, "version '1.0-beta' is not a version number"),
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA time zone"),
        ({"timezone": "../etc"}, "timezone '../etc' is not an IANA time zone"),
        ({"vendor_name": " "}, "vendor_name is empty"),
        ({"scheduler": "cron"}, "scheduler 'cron' is not one of celery-beat, heroku-scheduler"),
        ({"ci": "jenkins"}, "ci 'jenkins' is not one of github, none"),
        ({"open_source_license": "GPL"}, "open_source_license 'GPL' is not one of"),
        ({"use_sentry": "maybe"}, "use_sentry 'maybe' is not yes or no"),
        ({"use_mqtt": "maybe"}, "use_mqtt 'maybe' is not yes or no"),
        (
            {"scheduler": "heroku-scheduler", "use_flower": True},
            "use_flower needs scheduler 'celery-beat'",
        ),
    ],
)
def test_each_invalid_answer_is_refused_with_its_reason(pre_gen, changes, message):
    problems = pre_gen.validate(answers(**changes))

    assert len(problems) == 1, problems
    assert message in problems[0]
    assert "\n" not in problems[0]


@pytest.mark.parametrize("changes", [changes for changes, _ in REFUSED_NAMES])
def test_the_name_an_error_suggests_is_accepted(pre_gen, changes):
    (problem,) = pre_gen.validate(answers(**changes))
    suggestion = SUGGESTION.search(problem).group(1)
    # A vendor's module is never typed: the suggestion is given as the vendor's name.
    typed, derived = (
        ("project_slug", "project_slug")
        if "project_slug" in changes
        else ("vendor_name", "__vendor_module")
    )

    retried = rendered_answers(**{typed: suggestion})

    assert pre_gen.validate(retried) == []
    assert retried[derived] == suggestion


def test_every_problem_gets_a_line_of_its_own(pre_gen):
    problems = pre_gen.validate(answers(project_slug="Bad-Slug", email="nope", version="x"))

    assert [p.split(" ", 1)[0] for p in problems] == ["project_slug", "email", "version"]


def test_flower_with_celery_beat_is_accepted(pre_gen):
    assert pre_gen.validate(answers(scheduler="celery-beat", use_flower=True)) == []


@pytest.mark.parametrize(
    ("changes", "removed"),
    [
        # The defaults: celery-beat, no Sentry, no MQTT, GitHub CI, MIT.
        ({}, sorted(["config/sentry.py", *MQTT_ONLY])),
        ({"use_sentry": True}, MQTT_ONLY),
        ({"use_sentry": True, "use_mqtt": True}, []),
        ({"ci": "none"}, sorted([".github", "config/sentry.py", *MQTT_ONLY])),
        (
            {"open_source_license": "Not open source"},
            sorted(["LICENSE", "config/sentry.py", *MQTT_ONLY]),
        ),
        ({"open_source_license": "Apache-2.0", "use_sentry": True}, MQTT_ONLY),
        (
            {"scheduler": "heroku-scheduler", "use_sentry": True, "use_mqtt": True},
            CELERY_ONLY,
        ),
        (
            {
                "scheduler": "heroku-scheduler",
                "ci": "none",
                "open_source_license": "Not open source",
            },
            sorted([".github", "LICENSE", "config/sentry.py", *CELERY_ONLY, *MQTT_ONLY]),
        ),
    ],
)
def test_the_manifest_removes_exactly_what_each_answer_turns_off(post_gen, changes, removed):
    assert post_gen.paths_to_remove(answers(**changes)) == removed


def test_every_manifest_path_exists_in_the_template(post_gen):
    for owners in post_gen.MANIFEST.values():
        for paths in owners.values():
            for path in paths:
                relative = path.format(project_slug="{{cookiecutter.project_slug}}")
                assert (PROJECT_TEMPLATE / relative).exists(), path


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({}, "celery-beat.lock"),
        ({"use_sentry": True, "use_flower": True}, "celery-beat+sentry+flower.lock"),
        ({"scheduler": "heroku-scheduler", "use_sentry": True}, "heroku-scheduler+sentry.lock"),
        ({"scheduler": "heroku-scheduler", "use_mqtt": True}, "heroku-scheduler+mqtt.lock"),
        # Options that do not change the dependencies do not change the lock.
        ({"ci": "none", "open_source_license": "Not open source"}, "celery-beat.lock"),
    ],
)
def test_the_lock_is_named_after_the_answers_that_change_the_dependencies(post_gen, changes, name):
    assert post_gen.lock_name(answers(**changes)) == name


@pytest.mark.parametrize("version", ["0.1.0", "01.00rc02", "1.0.post03.dev04", "2026.10b1"])
def test_the_lock_records_the_version_as_pep_440_normalizes_it(pre_gen, post_gen, version):
    assert pre_gen.VERSION.fullmatch(version)
    assert post_gen.normalized_version(version) == str(Version(version))


@pytest.mark.parametrize("slug", ["iot_monitor", "a__b", "greenhouse2"])
def test_the_lock_records_the_name_as_pep_503_normalizes_it(post_gen, slug):
    assert post_gen.normalized_name(slug) == canonicalize_name(slug)


def lock_text(*packages: tuple[str, str, str]) -> str:
    """A uv.lock in uv's layout with these (name, version, source) packages."""
    blocks = [
        f'name = "{name}"\nversion = "{version}"\nsource = {source}\n'
        for name, version, source in packages
    ]
    return 'version = 1\nrevision = 3\nrequires-python = ">=3.11"\n\n[[package]]\n' + (
        "\n[[package]]\n".join(blocks)
    )


REGISTRY = '{ registry = "https://pypi.org/simple" }'
PROJECT = '{ virtual = "." }'


@pytest.mark.parametrize(
    ("name", "order"),
    [
        ("beta", ["alpha", "beta", "kappa"]),
        ("zulu", ["alpha", "kappa", "zulu"]),
        ("a", ["a", "alpha", "kappa"]),
    ],
)
def test_the_lock_takes_the_projects_name_and_version_where_uv_sorts_them(post_gen, name, order):
    stored = lock_text(
        ("alpha", "1.0", REGISTRY), ("iot-monitor", "0.1.0", PROJECT), ("kappa", "2.0", REGISTRY)
    )
    versions = {"alpha": "1.0", "kappa": "2.0", name: "3.0rc1"}

    lock = post_gen.lock_for_project(stored, name, "3.0rc1")

    assert lock == lock_text(
        *(
            (package, versions[package], PROJECT if package == name else REGISTRY)
            for package in order
        )
    )


def test_the_bake_keeps_its_own_lock_and_no_other(post_gen, tmp_path):
    locks = tmp_path / post_gen.LOCKS_DIR
    locks.mkdir()
    stored = lock_text(("iot-monitor", "0.1.0", PROJECT))
    (locks / "heroku-scheduler.lock").write_text(stored)
    (locks / "celery-beat.lock").write_text("another lock")

    post_gen.install_lock(
        tmp_path, answers(scheduler="heroku-scheduler", project_slug="green_house", version="2.0")
    )

    assert (tmp_path / "uv.lock").read_text() == lock_text(("green-house", "2.0", PROJECT))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["uv.lock"]


def test_a_missing_lock_is_one_warning_and_the_bake_goes_on(post_gen, tmp_path, capsys):
    (tmp_path / post_gen.LOCKS_DIR).mkdir()

    post_gen.install_lock(tmp_path, answers(use_sentry=True))

    assert capsys.readouterr().err.splitlines() == [
        "warning: the template has no .uv-locks/celery-beat+sentry.lock; the first `uv sync` "
        "will resolve the dependencies."
    ]
    assert list(tmp_path.iterdir()) == []


def test_the_env_file_gets_a_fresh_strong_secret_key(post_gen, tmp_path):
    (tmp_path / ".env.example").write_text("# local\nDJANGO_SECRET_KEY=\n# DATABASE_URL=\n")

    post_gen.write_env_file(tmp_path)
    first = (tmp_path / ".env").read_text()
    post_gen.write_env_file(tmp_path)
    second = (tmp_path / ".env").read_text()

    key = first.splitlines()[1].removeprefix("DJANGO_SECRET_KEY=")
    assert len(key) >= 50 and len(set(key)) >= 5
    assert first != second
    assert first.splitlines()[0] == "# local" and first.splitlines()[2] == "# DATABASE_URL="


def bake_on_the_command_line(tmp_path, *answers: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        bake_command(tmp_path, *answers),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("slug", ["Bad-Slug", "django"])
def test_a_refused_bake_exits_with_one_clear_line_and_leaves_nothing(tmp_path, slug):
    result = bake_on_the_command_line(tmp_path, f"project_slug={slug}")

    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode != 0
    assert len(errors) == 1 and f"project_slug {slug!r}" in errors[0], result.stderr
    # Cookiecutter logs its own FailedHookException with a trace; the hook itself never crashes.
    assert not re.search(r'File ".*_gen_project', result.stderr + result.stdout)
    assert list(tmp_path.iterdir()) == []


def test_a_bake_prints_the_next_commands(tmp_path):
    result = bake_on_the_command_line(tmp_path, "project_name=Greenhouse Watch", "use_sentry=yes")

    assert result.returncode == 0, result.stderr
    assert f"  cd {tmp_path / 'greenhouse_watch'}\n" in result.stdout
    assert "make dev" in result.stdout and "make test" in result.stdout
    assert (tmp_path / "greenhouse_watch" / "config" / "sentry.py").exists()
