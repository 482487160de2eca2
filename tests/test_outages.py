"""A baked project run as Heroku runs it, then broken on purpose.

Web, worker and beat start from the Procfile's own lines, on production settings, PostgreSQL,
and a Redis of the test's own that keeps nothing on disk, like Heroku's during a restart. Then:
Redis stops for 30 s and comes back empty; a worker is killed mid-send; the vendor fails for a
while. Each test prints what it measured: recovery times, commands settled, emails sent.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis

from .baking import bake
from .environment import example_values, guide_variables
from .services import (
    STAFF_TOKEN,
    HerokuApp,
    OwnServer,
    ProjectProcess,
    answered_by,
    free_port,
    postgres_database,
    reporting_devices,
    smtp_sink,
    vendor_without_devices,
    wait_for,
)

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
APP_HOST = "iot-outages-test.herokuapp.com"


class OwnRedis(OwnServer):
    """A redis-server of the test's own on a free port, keeping nothing on disk: stopped and
    started again, it comes back empty."""

    def __init__(self, directory: Path):
        super().__init__("redis-server", "redis-server")
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        return ["redis-server", *arguments, "--appendonly", "no", "--dir", str(self.directory)]

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False


class Outages:
    """A Heroku-like deploy of the baked project (services.HerokuApp), with what these tests
    look at: its API as a staff member, /health/, the mails its admins got."""

    def __init__(self, app: HerokuApp, redis: OwnRedis, port: int, mail: list):
        self.app = app
        self.redis = redis
        self.port = port
        self.mail = mail
        self.token = ""
        self.database_url = app.config_vars["DATABASE_URL"]

    def start(self, process: str, name: str = "", **variables: str) -> ProjectProcess:
        return self.app.start(process, name, PORT=str(self.port), **variables)

    def scalar(self, sql: str, *parameters):
        return self.app.scalar(sql, *parameters)

    def request(self, method: str, path: str, body: dict | None = None, **headers: str):
        """(status, headers, JSON) from the web dyno, as through Heroku's router."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={
                "Host": APP_HOST,
                "X-Forwarded-Proto": "https",
                "Content-Type": "application/json",
                **headers,
            },
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
        """The subjects of the mails the admins got so far."""
        return [str(message["Subject"]) for _, message in self.mail]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return bake(tmp_path_factory.mktemp("outages"), scheduler="celery-beat")


@pytest.fixture
def heroku(project, tmp_path):
    """A function that deploys the app with its knobs, on a database, a Redis and a mail server
    of its own, with seeded devices and the API token of a staff member."""
    own_redis = OwnRedis(tmp_path)
    own_redis.start()
    guide = guide_variables((project / "README.md").read_text())
    with (
        smtp_sink() as (smtp_port, mail),
        postgres_database("outages") as database_url,
        vendor_without_devices() as vendor_api,
    ):
        apps: list[HerokuApp] = []

        def deploy(devices: int = 5, **knobs: str) -> Outages:
            config_vars = example_values(guide, EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}")
            config_vars |= {"DATABASE_URL": database_url, "REDIS_URL": own_redis.url}
            config_vars |= answered_by(vendor_api, config_vars)
            app = HerokuApp(project, config_vars | KNOBS | knobs)
            apps.append(app)
            app.build()
            app.run(app.procfile["release"], dyno="release.1")
            app.run(f"python manage.py seed_demo --devices {devices} --history-days 0")
            outages = Outages(app, own_redis, free_port(), mail)
            outages.token = app.run(f'python manage.py shell -v 0 -c "{STAFF_TOKEN}"').stdout
            outages.token = outages.token.strip()
            return outages

        try:
            yield deploy
        finally:
            for app in apps:
                app.stop()
            own_redis.stop()


def device_ids(app: Outages) -> list[int]:
    with psycopg.connect(app.database_url) as connection:
        return [pk for (pk,) in connection.execute("SELECT id FROM devices_device ORDER BY id")]


def post_command(app: Outages, device: int, is_on: bool, key: str):
    return app.request(
        "POST",
        f"/api/devices/{device}/commands/",
        {"is_on": is_on},
        Authorization=f"Token {app.token}",
        **{"Idempotency-Key": key},
    )


def command_state(app: Outages, command: int) -> tuple[str, str]:
    with psycopg.connect(app.database_url) as connection:
        return connection.execute(
            "SELECT state, error FROM interactions_command WHERE id = %s", (command,)
        ).fetchone()


def statuses(app: Outages) -> int:
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
    # A second beat, started while Redis is down (a deploy's new dyno beside the old one).
    late_beat = app.start("beat", "beat-started-during-the-outage")
    time.sleep(max(0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
    beats = (beat, late_beat)
    alive_during = all(process.popen.poll() is None for process in (worker, *beats))
    app.redis.start()
    back = time.monotonic()
    logged_before = {process.name: len(process.log) for process in beats}

    before = statuses(app)
    wait_for(lambda: statuses(app) > before, 60, f"readings again\n{logs(worker, *beats)}")
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
    dispatching = [
        process.name
        for process in beats
        if "Sending due task" in process.log[logged_before[process.name] :]
    ]

    assert (accepted, accepted_too, refused, retried) == (202, 202, 503, 202)
    assert refused_headers["Retry-After"] == "30" and "try again" in refusal["detail"]
    assert during["id"] == refusal_free_id(app, "during")
    assert health_during == 503
    assert alive_during and all(process.popen.poll() is None for process in (worker, *beats))
    assert len(dispatching) == 1, dispatching  # one lock, taken again by one beat
    assert states == [("confirmed", "")] * 3, states
    assert critical_lines(web, worker, *beats) == []
    assert len(emails) <= 3, emails
    print(
        f"\nredis outage: {OUTAGE_SECONDS} s, Redis back empty, a second beat started during "
        f"it and {dispatching[0]} alone dispatching after it; readings again after "
        f"{readings_in:.1f} s, /health/ 200 after {healthy_in:.1f} s (503 during); "
        f"3 commands (one sending, one lost with Redis, one refused 503 then retried) "
        f"confirmed {settled_in:.1f} s after Redis came back, {resent} sweeps sent some again; "
        f"{len(emails)} emails: {emails}"
    )


def refusal_free_id(app: Outages, key: str) -> int:
    """The one command the key names: the retry queued the refused command, not a new one."""
    with psycopg.connect(app.database_url) as connection:
        (pk,) = connection.execute(
            "SELECT id FROM interactions_command WHERE idempotency_key = %s", (key,)
        ).fetchall()
    return pk[0]


def switches(app: Outages, device: int) -> int:
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


def open_alerts(app: Outages) -> int:
    """Open alerts, but for the device the simulated vendor reports offline all along."""
    return app.scalar(
        "SELECT count(*) FROM interactions_alert WHERE resolved_at IS NULL "
        "AND kind <> 'devices_offline'"
    )


def alert_count(app: Outages, kind: str) -> int:
    return app.scalar("SELECT count(*) FROM interactions_alert WHERE kind = %s", kind)


def test_a_vendor_outage_is_one_alert_and_few_emails(heroku):
    # Two minutes, as a vendor outage was measured before: rounds fail all along it.
    devices, outage_seconds = 20, 120
    app = heroku(
        devices=devices, SIMULATOR_BATCH_SIZE="5", VENDOR_MAX_RETRIES="1", SIMULATOR_LATENCY="0.1"
    )
    web, worker, beat = app.start("web"), app.start("worker"), app.start("beat")
    # Up, refreshing, and over what starting may have raised (devices not yet heard from); the
    # device the vendor reports offline all along has its alert.
    wait_for(
        lambda: (
            app.health() == 200
            and statuses(app) >= 2 * reporting_devices(app)
            and not open_alerts(app)
            and alert_count(app, "devices_offline") == 1
        ),
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
    # The device the vendor reports offline all along keeps its one alert, open and unmailed
    # again, through the outage and after it.
    assert alert_count(app, "devices_offline") == 1
    assert not [subject for subject in emails if "says the vendor" in subject], emails
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


def test_a_worker_restarted_mid_send_stops_cleanly_and_loses_nothing(heroku):
    # Heroku restarts dynos with SIGTERM (a deploy, the daily restart); the Procfile remaps it
    # to a cold shutdown. Each restart here comes while a command is being sent.
    restarts = 5
    app = heroku(devices=restarts, SIMULATOR_LATENCY="1")
    web, beat, worker = app.start("web"), app.start("beat"), app.start("worker")
    wait_for(lambda: app.health() == 200, 120, f"the app up\n{logs(web, worker, beat)}")
    workers, commands = [worker], []
    for number, device in enumerate(device_ids(app)):
        _, _, command = post_command(app, device, False, f"restart-{number}")
        commands.append(command["id"])
        wait_for(
            lambda: command_state(app, command["id"])[0] != "queued",  # noqa: B023
            60,
            f"command {number} taken\n{logs(workers[-1])}",
            poll=0.1,
        )
        workers[-1].stop()
        workers.append(app.start("worker", f"worker-{number + 2}"))
    wait_for(
        lambda: all(command_state(app, c)[0] in SETTLED for c in commands),
        int(KNOBS["COMMAND_TIMEOUT_SECONDS"]) + 3 * int(KNOBS["MONITOR_INTERVAL_SECONDS"]),
        f"every command settled\n{logs(*workers[-2:])}",
    )

    assert [command_state(app, c) for c in commands] == [("confirmed", "")] * restarts
    assert [switches(app, device) for device in device_ids(app)] == [1] * restarts
    assert critical_lines(*workers) == []
    not_cold = [worker for worker in workers[:-1] if "Cold shutdown" not in worker.log]
    assert not not_cold, "\n".join(
        f"{worker.name} exited {worker.popen.returncode}\n{worker.log[-3000:]}"
        for worker in not_cold
    )
    print(
        f"\nworker restarts: {restarts} SIGTERMs, each mid-send: no CRITICAL, {restarts} "
        "commands confirmed, each device switched once"
    )
