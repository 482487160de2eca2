"""A baked project run as Heroku runs it, then broken on purpose.

Web, worker and beat start from the Procfile's own lines, on production settings, PostgreSQL,
and a Redis of the test's own that keeps nothing on disk, like Heroku's during a restart. Then:
Redis stops for 30 s and comes back empty; a worker is killed mid-send; the vendor fails for a
while. Each test prints what it measured: recovery times, commands settled, emails sent.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis

from .baking import bake, run, unavailable, uv_executable
from .services import ProjectProcess, free_port, postgres_database, wait_for

pytestmark = pytest.mark.end_to_end

OUTAGE_SECONDS = 30
# Quick enough to watch: a refresh every 3 s, a device silent after 6 s, a command's attempt
# abandoned after 10 s, settled (or failed) within 90 s.
KNOBS = {
    "MONITOR_INTERVAL_SECONDS": "3",
    "SILENT_AFTER_INTERVALS": "2",
    "SIMULATOR_READING_PERIOD": "1",
    "COMMAND_TIMEOUT_SECONDS": "90",
    "CELERY_TASK_TIME_LIMIT": "10",
    "CELERY_TASK_SOFT_TIME_LIMIT": "8",
    "VENDOR_RETRY_BASE_DELAY": "0.5",
    "VENDOR_RETRY_MAX_DELAY": "2",
    "ALERT_MAIL_WINDOW_SECONDS": "3600",
}
SETTLED = ("confirmed", "failed")
STAFF_TOKEN = (
    "from django.contrib.auth import get_user_model; "
    "from rest_framework.authtoken.models import Token; "
    "user = get_user_model().objects.create_user('ann', is_staff=True); "
    "print(Token.objects.create(user=user).key)"
)


class OwnRedis:
    """A redis-server of the test's own on a free port, keeping nothing on disk: stopped and
    started again, it comes back empty."""

    def __init__(self, directory: Path):
        if shutil.which("redis-server") is None:
            unavailable("redis-server is not installed", "apt-get install redis-server")
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(
            ["redis-server", *arguments, "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.answers, 10, f"redis-server on port {self.port}", poll=0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False


class HerokuLikeApp:
    """The Procfile's processes on production settings, with only what a deploy would set.

    Mail goes to files, one per message, so that the test can count what admins would get.
    """

    def __init__(self, root: Path, database_url: str, redis: OwnRedis, mail: Path, **knobs: str):
        self.root = root
        self.database_url = database_url
        self.redis = redis
        self.mail = mail
        self.token = ""
        self.port = free_port()
        self.procfile = dict(
            line.split(": ", 1) for line in (root / "Procfile").read_text().splitlines() if line
        )
        self.variables = {
            "PATH": f"{root / '.venv/bin'}:{os.environ['PATH']}",
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_READ_DOT_ENV_FILE": "False",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "EMAIL_URL": f"filemail:///{self.mail}",  # the path is what follows the third slash
            "PORT": str(self.port),
            **knobs,
        }
        self.processes: list[ProjectProcess] = []

    def manage(self, *arguments: str) -> str:
        command = ["python", "manage.py", *arguments]
        return run(command, self.root, timeout=300, **self.variables).stdout

    def start(self, process: str, name: str | None = None, **variables: str) -> ProjectProcess:
        started = ProjectProcess(
            self.root,
            name or process,
            ["bash", "-c", self.procfile[process]],
            self.variables | variables,
        )
        self.processes.append(started)
        return started

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def scalar(self, sql: str, *parameters):
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(sql, parameters).fetchone()[0]

    def request(self, method: str, path: str, body: dict | None = None, **headers: str):
        """(status, headers, JSON) from the web process, as through Heroku's router."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"X-Forwarded-Proto": "https", "Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.headers, json.loads(error.read() or b"null")

    def health(self) -> int | None:
        try:
            return self.request("GET", "/health/")[0]
        except OSError:
            return None

    def emails(self) -> list[str]:
        """The subjects of the mails sent so far."""
        files = sorted(self.mail.glob("*.log")) if self.mail.exists() else []
        return [
            line.removeprefix("Subject: ")
            for path in files
            for line in path.read_text().splitlines()
            if line.startswith("Subject: ")
        ]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = bake(tmp_path_factory.mktemp("outages"), scheduler="celery-beat")
    run([uv_executable(), "sync", "--quiet"], cwd=root)
    return root


@pytest.fixture
def heroku(project, tmp_path):
    """A function that starts the app, with its knobs, on a database and a Redis of its own,
    with seeded devices and the API token of a staff member."""
    own_redis = OwnRedis(tmp_path)
    own_redis.start()
    with postgres_database("outages") as database_url:
        apps: list[HerokuLikeApp] = []

        def start(devices: int = 5, **knobs: str) -> HerokuLikeApp:
            app = HerokuLikeApp(
                project, database_url, own_redis, tmp_path / "mail", **(KNOBS | knobs)
            )
            apps.append(app)
            app.manage("migrate", "--verbosity", "0")
            app.manage("seed_demo", "--devices", str(devices), "--history-days", "0")
            app.token = app.manage("shell", "--verbosity", "0", "-c", STAFF_TOKEN).strip()
            return app

        try:
            yield start
        finally:
            for app in apps:
                app.stop()
            own_redis.stop()


def device_ids(app: HerokuLikeApp) -> list[int]:
    with psycopg.connect(app.database_url) as connection:
        return [pk for (pk,) in connection.execute("SELECT id FROM devices_device ORDER BY id")]


def post_command(app: HerokuLikeApp, device: int, is_on: bool, key: str):
    return app.request(
        "POST",
        f"/api/devices/{device}/commands/",
        {"is_on": is_on},
        Authorization=f"Token {app.token}",
        **{"Idempotency-Key": key},
    )


def command_state(app: HerokuLikeApp, command: int) -> tuple[str, str]:
    with psycopg.connect(app.database_url) as connection:
        return connection.execute(
            "SELECT state, error FROM interactions_command WHERE id = %s", (command,)
        ).fetchone()


def statuses(app: HerokuLikeApp) -> int:
    return app.scalar("SELECT count(*) FROM observations_status")


def critical_lines(*processes: ProjectProcess) -> list[str]:
    return [
        line
        for process in processes
        for line in process.log.splitlines()
        if "CRITICAL" in line or "Unrecoverable" in line
    ]


def logs(*processes: ProjectProcess) -> str:
    return "\n".join(f"--- {p.name}\n{p.log[-2500:]}" for p in processes)


def test_beat_and_worker_outlive_redis_stopping_for_30_s_and_coming_back_empty(heroku):
    # One worker thread, and a vendor slow enough for one command to wait behind another; a
    # refresh every 5 s, which that one thread keeps up with.
    app = heroku(
        SIMULATOR_LATENCY="1.5",
        WORKER_CONCURRENCY="1",
        MONITOR_INTERVAL_SECONDS="5",
        SILENT_AFTER_INTERVALS="3",
    )
    web, worker, beat = app.start("web"), app.start("worker"), app.start("beat")
    wait_for(
        lambda: app.health() == 200 and statuses(app) >= 10,
        120,
        f"the app up and refreshing\n{logs(web, worker, beat)}",
    )
    first, second = device_ids(app)[:2]

    # A command being sent as Redis stops, and one waiting in Redis, which Redis loses.
    accepted, _, sending = post_command(app, first, False, "sending")
    wait_for(lambda: command_state(app, sending["id"])[0] == "sent", 60, "the first send", poll=0.1)
    accepted_too, _, waiting = post_command(app, second, False, "waiting")
    app.redis.stop()
    stopped = time.monotonic()

    refused, refused_headers, refusal = post_command(app, first, True, "during")
    health_during = app.health()
    time.sleep(max(0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
    alive_during = worker.popen.poll() is None and beat.popen.poll() is None
    app.redis.start()
    back = time.monotonic()

    before = statuses(app)
    wait_for(lambda: statuses(app) > before, 60, f"readings again\n{logs(worker, beat)}")
    readings_in = time.monotonic() - back
    wait_for(lambda: app.health() == 200, 90, f"/health/ 200 again\n{logs(worker, beat)}")
    healthy_in = time.monotonic() - back
    retried, _, during = post_command(app, first, True, "during")
    commands = [sending["id"], waiting["id"], during["id"]]
    bound = int(KNOBS["COMMAND_TIMEOUT_SECONDS"]) + 3 * int(KNOBS["MONITOR_INTERVAL_SECONDS"])
    wait_for(
        lambda: all(command_state(app, c)[0] in SETTLED for c in commands),
        bound,
        f"every command settled\n{logs(worker, beat)}",
    )
    settled_in = time.monotonic() - back
    states = [command_state(app, c) for c in commands]
    resent = app.scalar(
        "SELECT count(*) FROM interactions_jobrun WHERE name = 'settle_commands' "
        "AND detail NOT LIKE '0 commands sent again%%'"
    )
    emails = app.emails()

    assert (accepted, accepted_too, refused, retried) == (202, 202, 503, 202)
    assert refused_headers["Retry-After"] == "30" and "try again" in refusal["detail"]
    assert during["id"] == refusal_free_id(app, "during")
    assert health_during == 503
    assert alive_during and worker.popen.poll() is None and beat.popen.poll() is None
    assert states == [("confirmed", "")] * 3, states
    assert critical_lines(web, worker, beat) == []
    assert len(emails) <= 3, emails
    print(
        f"\nredis outage: {OUTAGE_SECONDS} s, Redis back empty; readings again after "
        f"{readings_in:.1f} s, /health/ 200 after {healthy_in:.1f} s (503 during); "
        f"3 commands (one sending, one lost with Redis, one refused 503 then retried) "
        f"confirmed {settled_in:.1f} s after Redis came back, {resent} sweeps sent some again; "
        f"{len(emails)} emails: {emails}"
    )


def refusal_free_id(app: HerokuLikeApp, key: str) -> int:
    """The one command the key names: the retry queued the refused command, not a new one."""
    with psycopg.connect(app.database_url) as connection:
        (pk,) = connection.execute(
            "SELECT id FROM interactions_command WHERE idempotency_key = %s", (key,)
        ).fetchall()
    return pk[0]


def switches(app: HerokuLikeApp, device: int) -> int:
    """How many times the simulated vendor carried out a switch of the device."""
    return app.scalar(
        "SELECT v.set_status_calls FROM vendors_simulateddevice v "
        "JOIN devices_device d ON d.vendor_device_id = v.vendor_device_id WHERE d.id = %s",
        device,
    )


def test_a_command_whose_worker_is_killed_mid_send_settles_and_switches_once(heroku):
    # Each vendor call takes 3 s: the worker is killed while it waits for the vendor.
    app = heroku(devices=3, SIMULATOR_LATENCY="3")
    web, worker, beat = app.start("web"), app.start("worker"), app.start("beat")
    wait_for(lambda: app.health() == 200, 120, f"the app up\n{logs(web, worker, beat)}")
    device = device_ids(app)[0]

    accepted, _, command = post_command(app, device, False, "killed")
    wait_for(lambda: command_state(app, command["id"])[0] == "sent", 60, "the send started")
    worker.kill()
    killed = time.monotonic()
    replacement = app.start("worker", name="worker-replacement")
    wait_for(
        lambda: command_state(app, command["id"])[0] in SETTLED,
        int(KNOBS["COMMAND_TIMEOUT_SECONDS"]) + 3 * int(KNOBS["MONITOR_INTERVAL_SECONDS"]),
        f"the command settled\n{logs(replacement, beat)}",
    )
    settled_in = time.monotonic() - killed
    attempts = app.scalar("SELECT attempts FROM interactions_command WHERE id = %s", command["id"])

    assert accepted == 202
    assert command_state(app, command["id"]) == ("confirmed", "")
    assert switches(app, device) == 1
    assert critical_lines(web, replacement, beat) == []
    print(
        f"\nworker SIGKILLed mid-send: the command confirmed {settled_in:.1f} s later, "
        f"after {attempts} attempts; the vendor switched the device {switches(app, device)} time"
    )


def open_alerts(app: HerokuLikeApp) -> int:
    return app.scalar("SELECT count(*) FROM interactions_alert WHERE resolved_at IS NULL")


def alert_count(app: HerokuLikeApp, kind: str) -> int:
    return app.scalar("SELECT count(*) FROM interactions_alert WHERE kind = %s", kind)


def test_a_vendor_outage_is_one_alert_and_few_emails(heroku):
    devices, outage_seconds = 20, 60
    app = heroku(
        devices=devices, SIMULATOR_BATCH_SIZE="5", VENDOR_MAX_RETRIES="1", SIMULATOR_LATENCY="0.1"
    )
    web, worker, beat = app.start("web"), app.start("worker"), app.start("beat")
    # Up, refreshing, and over what starting may have raised (devices not yet heard from).
    wait_for(
        lambda: app.health() == 200 and statuses(app) >= 2 * devices and not open_alerts(app),
        120,
        f"the app up and refreshing\n{logs(web, worker, beat)}",
    )
    alerts_before = {kind: alert_count(app, kind) for kind in ("devices_silent", "job_overdue")}
    emails_before = len(app.emails())

    # The vendor fails every call: its worker is replaced by one that sees it so.
    worker.stop()
    failing = app.start("worker", name="worker-vendor-down", SIMULATOR_ERROR_RATE="1")
    started = time.monotonic()
    wait_for(
        lambda: app.scalar(
            "SELECT count(*) FROM interactions_alert WHERE kind = 'devices_silent' "
            "AND resolved_at IS NULL"
        ),
        outage_seconds,
        f"the silent devices' alert\n{logs(failing, beat)}",
    )
    silent_alert = app.scalar(
        "SELECT message FROM interactions_alert WHERE kind = 'devices_silent' "
        "AND resolved_at IS NULL"
    )
    health_during = app.health()
    time.sleep(max(0, outage_seconds - (time.monotonic() - started)))
    failing.stop()
    ended = time.monotonic()
    recovered = app.start("worker", name="worker-vendor-back")
    wait_for(lambda: app.health() == 200, 90, f"/health/ 200 again\n{logs(recovered, beat)}")
    wait_for(
        lambda: not open_alerts(app),
        60,
        f"every alert resolved\n{logs(recovered, beat)}",
    )
    recovered_in = time.monotonic() - ended

    failed_rounds = app.scalar(
        "SELECT count(*) FROM interactions_jobrun WHERE name = 'refresh_all' AND outcome = 'failed'"
    )
    silent_alerts = alert_count(app, "devices_silent") - alerts_before["devices_silent"]
    job_alerts = alert_count(app, "job_overdue") - alerts_before["job_overdue"]
    gave_up = failing.log.count("gave up")
    emails = app.emails()[emails_before:]

    assert silent_alert.startswith(f"{devices} of {devices} devices of vendor simulator")
    assert silent_alerts == 1
    assert health_during == 503
    assert failed_rounds >= 2
    assert critical_lines(web, worker, failing, recovered, beat) == []
    assert len(emails) <= 4, emails
    print(
        f"\nvendor outage: {outage_seconds} s, {devices} devices; {failed_rounds} refresh_all "
        f"rounds failed, {gave_up} batches gave up; {silent_alerts} alert for the silent "
        f"devices ({silent_alert[:50]}…), {job_alerts} for overdue jobs; "
        f"/health/ 503 during, 200 and every alert resolved {recovered_in:.1f} s after; "
        f"{len(emails)} emails: {emails}"
    )
