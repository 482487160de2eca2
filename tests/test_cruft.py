"""A project baked with cruft takes a template update cleanly: the change arrives, the project's
secret key and lock stay its own, and git shows nothing but the update."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .baking import PROJECT_TEMPLATE, TEMPLATE_DIR, run, uv_executable
from .locking import LOCKS

SCHEDULERS = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["scheduler"]
# Commits need a name; the machine's own git configuration (signing, hooks) stays out.
GIT = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
NEW_LINE = "A line from the template's next version."


def git(cwd: Path, *arguments: str) -> str:
    return run(["git", *arguments], cwd, **GIT).stdout


def cruft(cwd: Path, *arguments: str) -> None:
    # The template's cruft group, in an environment of its own (see pyproject.toml).
    isolated = ["run", "--project", str(TEMPLATE_DIR), "--isolated", "--only-group", "cruft"]
    run([uv_executable(), *isolated, "cruft", *arguments], cwd, **GIT)


def commit_all(repository: Path, message: str) -> None:
    git(repository, "add", "--all")
    git(repository, "commit", "--quiet", "--message", message)


def note_on_top(path: Path, note: str) -> str:
    """Change a file's first lines, as a newer version of it would; return its new text."""
    text = f"# {note}\n{path.read_text()}"
    path.write_text(text)
    return text


@pytest.fixture
def template(tmp_path) -> Path:
    """A git repository of what a bake reads from this checkout, as it is now: cruft clones it."""
    template = tmp_path / "template"
    template.mkdir()
    for file in ("cookiecutter.json", "local_extensions.py"):
        shutil.copy(TEMPLATE_DIR / file, template)
    for directory in (TEMPLATE_DIR / "hooks", PROJECT_TEMPLATE):
        shutil.copytree(
            directory, template / directory.name, ignore=shutil.ignore_patterns("__pycache__")
        )
    git(template, "init", "--quiet")
    commit_all(template, "The template")
    return template


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_a_template_update_arrives_and_leaves_nothing_behind(tmp_path, template, scheduler):
    context = json.dumps({"scheduler": scheduler})
    cruft(
        tmp_path,
        "create",
        str(template),
        "--no-input",
        "--output-dir",
        "out",
        "--extra-context",
        context,
    )
    (project,) = (tmp_path / "out").iterdir()
    git(project, "init", "--quiet")
    commit_all(project, "Baked")
    secret_env = (project / ".env").read_text()
    # The project's lock moves on, as a Dependabot pull request moves it; the template's locks
    # move on too, at the same lines, and its README gets a line.
    project_lock = note_on_top(project / "uv.lock", "the project's own update")
    commit_all(project, "Update uv.lock")
    for lock in (template / LOCKS.relative_to(TEMPLATE_DIR)).iterdir():
        note_on_top(lock, "the template's update")
    readme = template / PROJECT_TEMPLATE.name / "README.md"
    readme.write_text(f"{readme.read_text()}\n{NEW_LINE}\n")
    commit_all(template, "The template's next version")

    cruft(project, "update", "--skip-apply-ask")

    status = git(project, "status", "--porcelain", "--untracked-files=all")
    assert sorted(line[3:] for line in status.splitlines()) == [".cruft.json", "README.md"]
    assert (project / "README.md").read_text().endswith(f"\n{NEW_LINE}\n")
    assert (project / ".env").read_text() == secret_env
    assert (project / "uv.lock").read_text() == project_lock
    git(project, "commit", "--all", "--quiet", "--message", "Update from the template")
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
