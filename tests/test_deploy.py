"""Processes of a baked project as they are started: Flower from Procfile.dev."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
from base64 import b64encode
from pathlib import Path

import pytest

from .baking import bake, project_environment, require_service, run, uv_executable
from .environment import procfile
from .services import ProjectProcess, free_port, wait_for
from .variants import CELERY_ALL_ON

pytestmark = pytest.mark.end_to_end

# A Redis database of these tests alone.
FLOWER_REDIS_URL = "redis://127.0.0.1:6379/10"


def stopped_by_itself(command: list[str], cwd: Path, environment: dict[str, str]):
    """Run a command that should stop by itself; its return code is None if it was still
    running after a minute, when it and its children were killed."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        process.returncode = None
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_flower_runs_from_procfile_dev_only_behind_the_password_in_its_variable(tmp_path):
    require_service("Redis")
    project = bake(tmp_path, **CELERY_ALL_ON)
    run([uv_executable(), "sync", "--no-default-groups", "--quiet"], project)
    line = procfile(project / "Procfile.dev")["flower"]
    port = free_port()
    variables = {
        "PATH": f"{project / '.venv/bin'}:{os.environ['PATH']}",
        "REDIS_URL": FLOWER_REDIS_URL,
        "FLOWER_PORT": str(port),
    }
    # As honcho runs each line of Procfile.dev: through sh.
    refused = stopped_by_itself(["sh", "-c", line], project, project_environment(**variables))
    flower = ProjectProcess(
        project, "flower", ["sh", "-c", line], {**variables, "FLOWER_BASIC_AUTH": "admin:s3cret"}
    )
    try:
        anonymous = wait_for(lambda: flower_status(port), 60, f"Flower: {flower.log_path}")
        signed_in = flower_status(port, "admin:s3cret")
        wrong_password = flower_status(port, "admin:guess")
    finally:
        flower.stop()

    assert refused.returncode not in (0, None)
    assert refused.stderr.strip().endswith(
        "FLOWER_BASIC_AUTH: set FLOWER_BASIC_AUTH=user:password in .env to run Flower"
    )
    assert (anonymous, signed_in, wrong_password) == (401, 200, 401)


def flower_status(port: int, credentials: str = "") -> int | None:
    headers = {"Authorization": "Basic " + b64encode(credentials.encode()).decode()}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers=headers if credentials else {})
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()
