"""Shape the freshly rendered project to the answers.

Whole files that only some answers want are removed through MANIFEST, the one place that says
which option value owns which path. The lock of the answers' dependency set becomes uv.lock
(LOCK_OPTIONS), so a bake resolves nothing and installs what the template was tested with.
The first vendor is added by the baked project's own code, the one `manage.py startvendor` adds
the next vendors with (add_first_vendor). Then a random SECRET_KEY goes into the git-ignored
.env, and the next commands are printed.
Jinja appears only inside the string literal below, so the module stays plain, importable
Python.
"""

from __future__ import annotations

import importlib.util
import json
import re
import secrets
import shlex
import shutil
import sys
from pathlib import Path

ANSWERS = r"""{{ cookiecutter | jsonify }}"""

# option -> value -> paths that exist only when the option has that value. A path listed under
# some values of an option is removed when the option has another one; a path listed under
# several options must be wanted by each of them. Paths are relative to the project root and
# may name the package as {project_slug}.
MANIFEST: dict[str, dict[object, list[str]]] = {
    "scheduler": {
        "celery-beat": [
            "Procfile.dev",
            "config/beat.py",
            "config/celery.py",
            "config/worker_pool.py",
            "tests/test_beat.py",
            "tests/test_celery.py",
            "{project_slug}/dashboard/templates/dashboard/export.html",
            "{project_slug}/interactions/batches.py",
            "{project_slug}/interactions/tasks.py",
            "{project_slug}/interactions/tests/test_tasks.py",
            "{project_slug}/observations/tasks.py",
            "{project_slug}/vendors/redis_limits.py",
            "{project_slug}/vendors/simulator_redis.py",
            "{project_slug}/vendors/tests/redis_callers.py",
            "{project_slug}/vendors/tests/test_redis_limits.py",
        ],
        # Heroku Scheduler runs management commands; it differs from celery-beat only in
        # fragments of shared files (dependencies, settings, Procfile, app.json).
        "heroku-scheduler": [],
    },
    "use_sentry": {True: ["config/sentry.py"]},
    "use_mqtt": {
        True: [
            "config/mqtt.py",
            "{project_slug}/interactions/consumer.py",
            "{project_slug}/interactions/management/commands/consume_mqtt.py",
            "{project_slug}/interactions/tests/test_consumer.py",
            "{project_slug}/interactions/tests/test_consumer_on_a_broker.py",
            "{project_slug}/vendors/mqtt_push.py",
        ]
    },
    "ci": {"github": [".github"]},
    "open_source_license": {
        "MIT": ["LICENSE"],
        "BSD-3-Clause": ["LICENSE"],
        "Apache-2.0": ["LICENSE"],
    },
}


# The options whose answers change pyproject.toml's dependencies. Each combination of their
# answers that the pre-gen hook accepts has a uv.lock of its own in LOCKS_DIR, written by the
# template's `make locks` with the default answers to everything else; a bake keeps the one its
# answers name. tests/test_locks.py fails when another option changes the dependencies.
LOCK_OPTIONS = ("scheduler", "use_sentry", "use_flower", "use_mqtt")
LOCKS_DIR = ".uv-locks"
# uv.lock's entry for the project itself: `package = false` makes it a virtual package.
PROJECT_SOURCE = 'source = { virtual = "." }'
PACKAGE_HEADER = "\n[[package]]\n"


def paths_to_remove(answers: dict) -> list[str]:
    """The manifest paths that the answers do not want, relative to the project root."""
    unwanted: set[str] = set()
    for option, owners in MANIFEST.items():
        wanted = set(owners.get(answers[option], ()))
        for paths in owners.values():
            unwanted.update(set(paths) - wanted)
    return sorted(path.format_map(answers) for path in unwanted)


def remove(root: Path, relative_path: str) -> None:
    path = root / relative_path
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def lock_name(answers: dict) -> str:
    """The lock of these answers' dependency set: the chosen values, and the options turned on,
    e.g. celery-beat+sentry.lock."""
    parts = [
        option.removeprefix("use_") if answers[option] is True else str(answers[option])
        for option in LOCK_OPTIONS
        if answers[option] is not False
    ]
    return "+".join(parts) + ".lock"


def normalized_name(name: str) -> str:
    """The package name as uv records it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalized_version(version: str) -> str:
    """The version as uv records it, for the forms the pre-gen hook accepts (PEP 440 drops
    leading zeros: 01.0rc02 is 1.0rc2)."""
    return re.sub(r"\d+", lambda digits: str(int(digits[0])), version)


def package_name(package: str) -> str:
    return package.split('"', 2)[1]


def lock_for_project(lock: str, name: str, version: str) -> str:
    """The lock with the project's own name and version, sorted where `uv lock` puts them.

    A lock stores the project's normalized name and version, which `uv lock --check` compares
    with pyproject.toml; the stored locks were written for the default answers.
    """
    head, *packages = lock.split(PACKAGE_HEADER)
    for index, package in enumerate(packages):
        lines = package.split("\n")
        if lines[2:3] == [PROJECT_SOURCE]:
            packages[index] = "\n".join([f'name = "{name}"', f'version = "{version}"', *lines[2:]])
    packages.sort(key=package_name)
    return PACKAGE_HEADER.join([head, *packages])


def install_lock(root: Path, answers: dict) -> None:
    """Keep the lock of the answers' dependency set as uv.lock, and no other."""
    locks = root / LOCKS_DIR
    lock = locks / lock_name(answers)
    if lock.is_file():
        text = lock_for_project(
            lock.read_bytes().decode(),
            normalized_name(answers["project_slug"]),
            normalized_version(answers["version"]),
        )
        (root / "uv.lock").write_bytes(text.encode())
    else:
        print(
            f"warning: the template has no {LOCKS_DIR}/{lock.name}; "
            "the first `uv sync` will resolve the dependencies.",
            file=sys.stderr,
        )
    if locks.is_dir():
        shutil.rmtree(locks)


def add_first_vendor(root: Path, answers: dict) -> None:
    """Write vendor_name's client and tests and add its settings and variables, as `manage.py
    startvendor` would: with the baked project's vendors/skeleton, which needs no dependency."""
    path = root / answers["project_slug"] / "vendors" / "skeleton" / "__init__.py"
    spec = importlib.util.spec_from_file_location("skeleton", path)
    skeleton = importlib.util.module_from_spec(spec)
    # Registered while it runs: dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = skeleton
    try:
        spec.loader.exec_module(skeleton)
        vendor = skeleton.NewVendor(
            answers["vendor_name"], answers["__vendor_module"], answers["__vendor_class"]
        )
        skeleton.add_vendor(root, answers["project_slug"], vendor)
    finally:
        del sys.modules[spec.name]


def write_env_file(root: Path) -> None:
    """Copy .env.example to .env with a fresh SECRET_KEY; .env is git-ignored."""
    lines = (root / ".env.example").read_text().splitlines()
    key = secrets.token_urlsafe(50)
    lines = [f"DJANGO_SECRET_KEY={key}" if line == "DJANGO_SECRET_KEY=" else line for line in lines]
    (root / ".env").write_text("\n".join(lines) + "\n")


def main() -> int:
    answers = json.loads(ANSWERS)
    root = Path.cwd()
    for path in paths_to_remove(answers):
        remove(root, path)
    install_lock(root, answers)
    add_first_vendor(root, answers)
    write_env_file(root)
    # The whole path: the bake may have gone anywhere (--output-dir), and this hook runs in
    # the project, not where cookiecutter was started.
    print(
        f"\nBaked {answers['project_name']} into {root}. Next:\n"
        f"  cd {shlex.quote(str(root))}\n"
        "  make dev    # serve it on http://127.0.0.1:8000\n"
        "  make test   # run its tests\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
