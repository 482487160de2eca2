"""A baked project's REST API, fuzzed by Schemathesis from the project's own OpenAPI schema,
against its real server on a real PostgreSQL database: no request ends in a server error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .baking import bake, project_environment, run, uv_executable
from .services import ProjectProcess, answers, free_port, postgres_database, wait_for

# A staff member, so that every operation (writes included) gets past authorisation and into
# the code that validates input, with a token and the demo's devices as their own.
CREATE_FUZZER = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from {slug}.devices.models import Device

fuzzer = get_user_model().objects.create_user("fuzzer", password="fuzz-the-api", is_staff=True)
Device.objects.update(owner=fuzzer)
print(Token.objects.create(user=fuzzer).key)
"""
# Examples per operation and phase: enough to reach every validator in well under two minutes.
MAX_EXAMPLES = 25


@pytest.fixture
def database_url():
    with postgres_database("api_fuzz") as url:
        yield url


def test_schemathesis_finds_no_server_error_in_the_api(tmp_path, database_url):
    project = bake(tmp_path / "bake")
    slug = project.name
    variables = {"DJANGO_SETTINGS_MODULE": "config.settings.local", "DATABASE_URL": database_url}
    python = [uv_executable(), "run", "--no-sync", "python", "manage.py"]
    run([uv_executable(), "sync", "--quiet"], cwd=project)
    run([*python, "migrate", "--verbosity", "0"], cwd=project, **variables)
    run([*python, "seed_demo", "--devices", "3", "--history-days", "1"], cwd=project, **variables)
    fuzzer = run([*python, "shell", "-c", CREATE_FUZZER.format(slug=slug)], project, **variables)
    token = fuzzer.stdout.strip().splitlines()[-1]

    port = free_port()
    server = ProjectProcess(
        project,
        "server",
        [project / ".venv/bin/python", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        variables,
    )
    try:
        schema_url = f"http://127.0.0.1:{port}/api/schema/"
        wait_for(lambda: answers(schema_url), timeout=60, what=f"the server on port {port}")
        result = subprocess.run(
            [
                Path(sys.executable).parent / "schemathesis",
                "run",
                schema_url,
                "--header",
                f"Authorization: Token {token}",
                # runserver is slow on kept-alive connections (~40 ms of delayed ACK a request).
                "--header",
                "Connection: close",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                str(MAX_EXAMPLES),
                # One worker: CPython 3.11's ast module is not thread-safe (gh-106905), and two
                # workers parsing at once ended in "AST constructor recursion depth mismatch".
                "--workers",
                "1",
                "--seed",
                "20261122",
                "--generation-database",
                "none",
                "--no-color",
            ],
            cwd=tmp_path,
            env=project_environment(),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()

    assert result.returncode == 0, (
        f"Schemathesis found server errors:\n{result.stdout[-8000:]}\n{result.stderr[-2000:]}\n"
        f"Server log:\n{server.log[-8000:]}"
    )
    assert " passed" in result.stdout and "Server error" not in result.stdout
