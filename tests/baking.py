"""Baking the template, and running commands and services for the baked projects."""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

from .environment import settings_variables

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"

SERVICES = {
    "PostgreSQL": ("127.0.0.1", 5432),
    "Redis": ("127.0.0.1", 6379),
    "Mosquitto": ("127.0.0.1", 1883),
}
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"

# Variables of ours that no settings read but that must not reach a baked project either: the
# template's virtualenv, the settings module, and DYNO, which chooses production settings.
LEAKY_VARIABLES = frozenset({"VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE", "DYNO"})


def load_hook(name: str) -> ModuleType:
    """Import a hook as the plain module it is before cookiecutter renders it."""
    spec = importlib.util.spec_from_file_location(name, TEMPLATE_DIR / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bake(output_dir: Path, **answers) -> Path:
    """Render the template without prompts into output_dir; return the project's root."""
    return Path(
        cookiecutter(
            str(TEMPLATE_DIR), no_input=True, extra_context=answers, output_dir=str(output_dir)
        )
    )


def bake_command(output_dir: Path, *answers: str) -> list[str]:
    """Cookiecutter's command line for a bake without prompts; answers are `option=value`."""
    return [
        sys.executable,
        "-m",
        "cookiecutter",
        str(TEMPLATE_DIR),
        "--no-input",
        "--output-dir",
        str(output_dir),
        *answers,
    ]


def rendered_answers(**answers) -> dict:
    """All the answers a bake with these overrides uses, derived ones included."""
    context = generate_context(TEMPLATE_DIR / "cookiecutter.json", extra_context=answers)
    # As cookiecutter() does, so that "_extensions" can import local_extensions.py.
    with mock.patch.object(sys, "path", [*sys.path, str(TEMPLATE_DIR)]):
        return prompt_for_config(context, no_input=True)


def unavailable(message: str, remedy: str) -> None:
    """Something a test needs is missing: skip locally, fail in CI, which must have it."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must have it")
    pytest.skip(f"{message}; {remedy}")


def require_service(name: str) -> None:
    """Skip locally, fail in CI, when a service a test needs does not answer."""
    host, port = SERVICES[name]
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        unavailable(f"{name} does not answer on {host}:{port}", f"start {name} to run this test")


def uv_executable() -> str:
    # `uv run` names itself in UV; otherwise look on PATH.
    path = os.environ.get("UV") or shutil.which("uv")
    if path is None:
        pytest.fail("uv is not installed: run `make test`, which installs it")
    return path


@functools.cache
def variables_read_by_settings(project: Path | None) -> frozenset[str]:
    """The environment variables a baked project's settings read: `project`'s, or those of a
    default bake for a command run outside a project."""
    if project is None or not (project / "config" / "settings").is_dir():
        # A bake of its own process: cookiecutter changes the working directory, which
        # threads that call this (make locks) share.
        output_dir = Path(tempfile.mkdtemp(prefix="default-bake-"))
        subprocess.run(bake_command(output_dir), check=True, capture_output=True)
        (project,) = output_dir.iterdir()
    return frozenset(settings_variables(project))


def project_environment(project: Path | None = None, /, **variables: str) -> dict[str, str]:
    """The environment a baked project's commands run in: ours, less every variable its
    settings read and the others that would leak, plus `variables`."""
    leaky = LEAKY_VARIABLES | variables_read_by_settings(project)
    environment = {k: v for k, v in os.environ.items() if k not in leaky}
    environment["UV_PYTHON_DOWNLOADS"] = "never"
    return environment | variables


def run(
    command: list[str], cwd: Path, timeout: float = 600, **variables: str
) -> subprocess.CompletedProcess:
    """Run a command in a baked project; fail with its output if it fails."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=project_environment(cwd, **variables),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {result.returncode} in {cwd}\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result
