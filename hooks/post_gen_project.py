"""Shape the freshly rendered project to the answers.

Whole files that only some answers want are removed through MANIFEST, the one place that says
which option value owns which path. Then a random SECRET_KEY goes into the git-ignored .env,
and the next commands are printed. Jinja appears only inside the string literal below, so the
module stays plain, importable Python.
"""

from __future__ import annotations

import json
import secrets
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
            "config/celery.py",
            "tests/test_celery.py",
            "{project_slug}/interactions/batches.py",
            "{project_slug}/interactions/tasks.py",
            "{project_slug}/interactions/tests/test_tasks.py",
        ],
        # Heroku Scheduler runs management commands; it differs from celery-beat only in
        # fragments of shared files (dependencies, settings, Procfile, app.json).
        "heroku-scheduler": [],
    },
    "use_sentry": {True: ["config/sentry.py"]},
    "ci": {"github": [".github"]},
    "open_source_license": {
        "MIT": ["LICENSE"],
        "BSD-3-Clause": ["LICENSE"],
        "Apache-2.0": ["LICENSE"],
    },
}


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
    write_env_file(root)
    print(
        f"\nBaked {answers['project_name']} into ./{answers['project_slug']}. Next:\n"
        f"  cd {answers['project_slug']}\n"
        "  make dev    # serve it on http://127.0.0.1:8000\n"
        "  make test   # run its tests\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
