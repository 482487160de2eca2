"""`make demo` bakes the default project and serves it with a working admin."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from .baking import TEMPLATE_DIR, project_environment, uv_executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo(tmp_path):
    """Start scripts/demo, as `make demo` does, and wait until the admin answers."""
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
            if match:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5)
                    break
                except OSError:
                    pass
            time.sleep(0.5)
        else:
            pytest.fail(f"the demo did not come up:\n{log_path.read_text()[-5000:]}")
        yield f"http://127.0.0.1:{port}", match.group(1), match.group(2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_demo_admin_accepts_the_printed_password(demo):
    base_url, user, password = demo
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    login_page = opener.open(f"{base_url}/admin/login/").read().decode()
    csrf_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)

    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": csrf_token,
            "username": user,
            "password": password,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/admin/login/?next=/admin/", data=form, headers={"Referer": base_url}
    )
    admin_index = opener.open(request).read().decode()

    assert "Site administration" in admin_index
    assert "Devices" in admin_index and "Observations" in admin_index
    devices_page = opener.open(f"{base_url}/admin/devices/device/").read().decode()
    assert "12 devices" in devices_page
    first_device = re.search(r'href="(/admin/devices/device/\d+/change/)', devices_page).group(1)
    device_page = opener.open(f"{base_url}{first_device}").read().decode()
    # The live refresh stored a status and readings; the seeded history is behind them.
    assert "temperature" in device_page and "°C" in device_page and "power" in device_page
    history = opener.open(f"{base_url}/admin/observations/attribute/").read().decode()
    assert "temperature" in history
