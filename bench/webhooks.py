"""The `webhooks` part of `make bench`: signed pushes acknowledged per second, and the p99 of
their answer time, under gunicorn as the Procfile's web line runs it, from a load generator on
loopback.

Run alone: `python -m bench.webhooks` (bakes the heroku-scheduler variant; needs PostgreSQL on
127.0.0.1). The server runs the production settings with WORKERS sync workers, one per core
of the reference machine, behind no proxy: each request says X-Forwarded-Proto: https, as
Heroku's router does. Each push is what a vendor sends for one device and one reading period,
signed, with readings the project does not have yet: every request is verified, its signature
recorded, two readings stored and the transaction committed before the answer. The generator
keeps CONCURRENCY requests in flight, each on a new connection (gunicorn's sync workers close
every one), and measures from the request's first byte to the answer's last.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg

from .__main__ import Project
from .common import environment, say

PUSHES = 3000
WARM_UP = 200
CONCURRENCY = 8
WORKERS = 2
DEVICES = 100
SECRET = "bench-webhook-secret"
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "DJANGO_ADMINS": "bench@example.com",
    # Production refuses to start without a mail server and the first vendor's API; neither is
    # called while every push succeeds.
    "EMAIL_URL": "smtp://127.0.0.1:2525",
    "ACME_CLOUD_API_URL": "https://api.example.com/v1/",
    "ACME_CLOUD_API_TOKEN": "unused",
    "SIMULATOR_WEBHOOK_SECRET": SECRET,
}


def push_bodies(count: int) -> list[bytes]:
    """One push per device and reading period, oldest first: new readings in every one."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bodies = []
    for number in range(count):
        device, period = f"sim-{number % DEVICES + 1:05d}", number // DEVICES
        at = (start + timedelta(minutes=period)).isoformat()
        readings = [
            {"name": "power", "value": 60.0 + period % 7, "units": "W", "timestamp": at},
            {"name": "temperature", "value": 20.5, "units": "°C", "timestamp": at},
        ]
        report = {"id": device, "online": True, "status": None, "readings": readings}
        bodies.append(json.dumps({"id": f"push-{number}", "devices": [report]}).encode())
    return bodies


def signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Forwarded-Proto": "https",
        "X-Webhook-Timestamp": timestamp,
        "X-Webhook-Signature": f"sha256={digest.hexdigest()}",
    }


def send(port: int, body: bytes, headers: dict[str, str]) -> float:
    """One push; the seconds its answer took. Anything but a 200 stops the benchmark."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/webhooks/simulator/", body, headers)
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"the webhook answered {response.status}: {answer[:300]!r}")
    return time.perf_counter() - started


def load(port: int, bodies: list[bytes]) -> tuple[list[float], float]:
    """Every push, CONCURRENCY at a time; their answer times and the wall time of all."""
    requests = [(body, signed(body)) for body in bodies]  # signed before the clock starts
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        latencies = list(pool.map(lambda request: send(port, *request), requests))
    return latencies, time.perf_counter() - started


def gunicorn(project: Project, database_url: str, port: int) -> subprocess.Popen:
    """The Procfile's web process, as a dyno starts it, on a loopback port."""
    lines = (project.root / "Procfile").read_text().splitlines()
    web = next(line.removeprefix("web: ") for line in lines if line.startswith("web: "))
    path = f"{project.root / '.venv/bin'}:{os.environ['PATH']}"
    command = f"{web} --bind 127.0.0.1:{port} --workers {WORKERS}"
    variables = PRODUCTION | {"DATABASE_URL": database_url, "PATH": path}
    log = project.root / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=project.root,
            env=environment(**variables),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    for _ in range(120):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError(f"gunicorn did not start within a minute:\n{log.read_text()[-2000:]}")


def measure(project: Project) -> dict:
    """Figures of the webhook under load, for the bench's table."""
    say(f"webhooks: {PUSHES:,} signed pushes, {CONCURRENCY} at a time, gunicorn x {WORKERS}")
    database_url = project.fresh_database("webhooks")
    project.manage(database_url, "seed_demo", "--devices", str(DEVICES), "--history-days", "0")
    bodies = push_bodies(WARM_UP + PUSHES)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = gunicorn(project, database_url, port)
    try:
        load(port, bodies[:WARM_UP])
        latencies, seconds = load(port, bodies[WARM_UP:])
    finally:
        server.terminate()
        server.wait(timeout=30)
    with psycopg.connect(database_url) as connection:
        stored = connection.execute("SELECT count(*) FROM observations_attribute").fetchone()[0]
    if stored != 2 * len(bodies):
        raise RuntimeError(f"{stored} readings stored of {2 * len(bodies)} pushed")
    quantiles = statistics.quantiles(latencies, n=100)
    figures = {
        "webhook_requests_per_s": PUSHES / seconds,
        "webhook_p50_ms": quantiles[49] * 1000,
        "webhook_p99_ms": quantiles[98] * 1000,
    }
    say(
        f"  {figures['webhook_requests_per_s']:.0f} pushes/s, "
        f"p50 {figures['webhook_p50_ms']:.1f} ms, p99 {figures['webhook_p99_ms']:.1f} ms"
    )
    return figures


def main() -> None:
    project = Project("webhooks", scheduler="heroku-scheduler")
    try:
        figures = measure(project)
    finally:
        project.drop_databases()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
