import os
import re
import signal
import subprocess
import time

import pytest

from .baking import TEMPLATE_DIR, load_hook, project_environment, uv_executable
from .services import answers, free_port

# A vendor client and its tests as a team writes them in a baked project, which
# test_connect_vendor.py copies there: they import the project's modules.
collect_ignore = ["fake_cloud/team"]


@pytest.fixture(scope="session")
def pre_gen():
    return load_hook("pre_gen_project")


@pytest.fixture(scope="session")
def post_gen():
    return load_hook("post_gen_project")


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """Start scripts/demo, as `make demo` does, and wait until the admin answers; one demo for
    the tests that look at it, none of which changes what another sees."""
    tmp_path = tmp_path_factory.mktemp("demo")
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [TEMPLATE_DIR / "scripts" / "demo"],
            cwd=TEMPLATE_DIR,
            env=project_environment(
                UV=uv_executable(), DEMO_DIR=str(tmp_path / "demo"), DEMO_PORT=str(port)
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            match = re.search(r"user: (\S+)\s+password: (\S+)", log_path.read_text())
            if match and answers(f"http://127.0.0.1:{port}/admin/login/"):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the demo did not come up:\n{log_path.read_text()[-5000:]}")
        yield f"http://127.0.0.1:{port}", match.group(1), match.group(2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
