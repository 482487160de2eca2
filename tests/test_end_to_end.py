"""Baked projects against the machine's real PostgreSQL and Redis, with real worker and beat
processes: the monitor and control flows, a worker killed mid-batch, a faulty vendor, a vendor
outage and its end, two beats, heroku-scheduler mode's run_job, and a vendor's pushes to the
webhook under gunicorn."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from .baking import bake, run, uv_executable
from .services import REPORTING_DEVICES, STAFF_TOKEN, deployment, reporting_devices, wait_for

pytestmark = pytest.mark.end_to_end

# Each test has a Redis database of its own, so parallel tests never share a queue.
REDIS_DBS = {
    "flows": 11,
    "kill": 12,
    "faults": 13,
    "beats": 14,
    "refusal": 15,
    "outage": 5,
    "export": 0,
}
# Readings in one part of an export (observations/exports.py).
PART_ROWS = 20_000
# One reading per device for the whole test: a redelivered read finds what is already stored.
FROZEN_READINGS = "1000000"


@pytest.fixture(scope="module")
def celery_project(tmp_path_factory):
    root = bake(tmp_path_factory.mktemp("celery"), scheduler="celery-beat")
    run([uv_executable(), "sync", "--quiet"], cwd=root)
    return root


def device_pks(deployment_, vendor_device_id_prefix="sim-"):
    return [
        pk
        for (pk,) in deployment_.query(
            "SELECT id FROM devices_device WHERE vendor_device_id LIKE %s ORDER BY id",
            vendor_device_id_prefix + "%",
        )
    ]


def refreshed_devices(deployment_) -> int:
    return deployment_.scalar("SELECT count(DISTINCT device_id) FROM observations_status")


def readings_due(deployment_) -> int:
    """One of each reading a device the vendor reports online measures."""
    return deployment_.scalar(
        "SELECT sum(jsonb_array_length(d.reading_names)) FROM devices_device d "
        "JOIN vendors_simulateddevice v ON v.vendor_device_id = d.vendor_device_id "
        "WHERE v.online"
    )


def enqueue_refresh_all(deployment_) -> None:
    deployment_.manage(
        "shell", "-c", "from iot_monitor.interactions.tasks import refresh_all; refresh_all.delay()"
    )


def test_worker_and_beat_refresh_on_schedule_and_confirm_a_command(celery_project):
    with deployment(
        celery_project,
        REDIS_DBS["flows"],
        MONITOR_INTERVAL_SECONDS="2",
        SIMULATOR_READING_PERIOD="1",
    ) as app:
        app.manage("seed_demo", "--devices", "5", "--history-days", "0")
        worker = app.start_worker()
        beat = app.start_beat()

        # Two scheduled refreshes at least: every device has two statuses a second apart.
        wait_for(
            lambda: (
                app.scalar(
                    "SELECT count(*) FROM (SELECT device_id FROM observations_status "
                    "GROUP BY device_id HAVING count(*) >= 2) AS twice"
                )
                == 5
            ),
            timeout=60,
            what=f"two scheduled refreshes\n{beat.log[-3000:]}\n{worker.log[-3000:]}",
        )
        assert (
            app.scalar("SELECT count(*) FROM interactions_jobrun WHERE name = 'refresh_all'") >= 2
        )

        device = device_pks(app)[0]
        result = app.manage("set_status", str(device), "off", "--wait", "30")

        assert result.stdout.strip().endswith("confirmed")
        assert app.query("SELECT state, vendor_answer->>'is_on' FROM interactions_command") == [
            ("confirmed", "false")
        ]
        vendor_side = app.scalar(
            "SELECT v.is_on FROM vendors_simulateddevice v JOIN devices_device d "
            "ON d.vendor_device_id = v.vendor_device_id WHERE d.id = %s",
            device,
        )
        assert vendor_side is False
        assert "interactions.send_command" in worker.log


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(celery_project):
    # Three batches of at most 500 devices, one at a time: the worker is killed once the
    # first is stored, while the second's calls are in flight (8 at once, 0.25 s each).
    devices = 1200
    with deployment(
        celery_project,
        REDIS_DBS["kill"],
        SIMULATOR_LATENCY="0.25",
        SIMULATOR_BATCH_SIZE="10",
        SIMULATOR_READING_PERIOD=FROZEN_READINGS,
        # A crashed worker's tasks come back once the visibility timeout has passed, at the
        # next restore check of a running worker (kombu checks 10 s after it starts). Keep
        # the timeout short here, and the limits it must exceed shorter still.
        CELERY_VISIBILITY_TIMEOUT="10",
        CELERY_TASK_TIME_LIMIT="6",
        CELERY_TASK_SOFT_TIME_LIMIT="5",
        VENDOR_RETRY_MAX_DELAY="2",
    ) as app:
        app.manage("seed_demo", "--devices", str(devices), "--history-days", "0")
        reporting = reporting_devices(app)
        first = app.start_worker("first-worker", concurrency=1)
        enqueue_refresh_all(app)

        done_before_kill = wait_for(
            lambda: refreshed_devices(app) >= 300 and refreshed_devices(app),
            timeout=60,
            what=f"the first batches\n{first.log[-3000:]}",
            poll=0.1,
        )
        first.kill()
        killed_at = time.monotonic()
        assert done_before_kill < reporting, "the worker finished before it could be killed"

        second = app.start_worker("second-worker", concurrency=2)
        wait_for(
            lambda: refreshed_devices(app) == reporting,
            timeout=60,
            what=f"every device after the kill\n{second.log[-3000:]}",
        )
        recovered_in = time.monotonic() - killed_at

        statuses = app.scalar("SELECT count(*) FROM observations_status")
        attributes = app.scalar("SELECT count(*) FROM observations_attribute")
        assert (statuses, attributes) == (reporting, readings_due(app))
        assert (
            app.scalar(
                "SELECT count(*) FROM (SELECT 1 FROM observations_attribute "
                "GROUP BY device_id, name, valid_at HAVING count(*) > 1) AS duplicates"
            )
            == 0
        )
        print(
            f"\nkill: {devices} devices, {done_before_kill} refreshed before SIGKILL, "
            f"all refreshed {recovered_in:.1f} s after it; {statuses} statuses, "
            f"{attributes} readings, 0 duplicates"
        )


def test_a_faulty_vendor_is_retried_within_the_cap_and_a_refusal_is_logged_once(celery_project):
    # 80 devices: 17 calls in the first attempt alone, so that a server error (3 in 10 calls)
    # and a 429 both show, which a few calls might not.
    devices, max_delay = 80, 2.0
    with deployment(
        celery_project,
        REDIS_DBS["faults"],
        SIMULATOR_LATENCY="0.1",
        SIMULATOR_ERROR_RATE="0.3",
        # More calls at once than the vendor allows: a burst of 429s with Retry-After.
        SIMULATOR_MAX_CONCURRENT_CALLS="2",
        SIMULATOR_MAX_CALLS_AT_ONCE="4",
        SIMULATOR_RETRY_AFTER="0.5",
        SIMULATOR_BATCH_SIZE="5",
        SIMULATOR_READING_PERIOD=FROZEN_READINGS,
        VENDOR_MAX_RETRIES="25",
        VENDOR_RETRY_BASE_DELAY="0.2",
        VENDOR_RETRY_MAX_DELAY=str(max_delay),
    ) as app:
        app.manage("seed_demo", "--devices", str(devices), "--history-days", "0")
        # A device the vendor does not know: a permanent error.
        app.manage(
            "shell",
            "-c",
            "from iot_monitor.devices.models import Device; "
            "Device.objects.create(name='Ghost', vendor='simulator', vendor_device_id='sim-ghost')",
        )
        worker = app.start_worker(concurrency=8)
        enqueue_refresh_all(app)

        reporting = reporting_devices(app)
        wait_for(
            lambda: refreshed_devices(app) == reporting,
            timeout=120,
            what=f"every device despite the faults\n{worker.log[-3000:]}",
        )
        wait_for(
            lambda: "refused device Ghost" in worker.log, timeout=30, what="the refusal logged"
        )
        time.sleep(1)  # let any retry still waiting show itself in the log

        delays = [float(d) for d in re.findall(r"Retry in ([\d.]+)s", worker.log)]
        errors = re.findall(r"(VendorUnavailable|RateLimited)", worker.log)
        assert delays, "the faults caused no retry"
        assert max(delays) <= max_delay
        assert "RateLimited" in errors and "VendorUnavailable" in errors
        assert "gave up" not in worker.log
        assert worker.log.count("refused device Ghost") == 1
        assert app.scalar(
            "SELECT last_error FROM devices_device WHERE vendor_device_id = 'sim-ghost'"
        ).startswith("simulated vendor: no device sim-ghost")
        assert app.scalar("SELECT count(*) FROM observations_status") == reporting
        print(
            f"\nfaults: {devices} devices refreshed through {len(delays)} retries "
            f"(longest delay {max(delays):.2f} s, cap {max_delay:g} s); "
            f"{errors.count('RateLimited')} rate-limited, "
            f"{errors.count('VendorUnavailable')} server errors; 1 refusal logged once"
        )


def test_a_worker_writes_an_export_over_several_tasks_and_it_downloads_whole(celery_project):
    with deployment(
        celery_project,
        REDIS_DBS["export"],
        # A task writes parts for half its soft time limit, then queues the rest: with none,
        # each task writes one part (PART_ROWS readings) and queues the next.
        CELERY_TASK_SOFT_TIME_LIMIT="0",
    ) as app:
        app.manage("seed_demo", "--devices", "4", "--history-days", "40")
        token = app.manage("shell", "-v", "0", "-c", STAFF_TOKEN).stdout.strip()
        devices = [pk for (pk,) in app.query("SELECT id FROM devices_device ORDER BY id")]
        worker = app.start_worker()
        url = app.serve()
        now = datetime.now(UTC)
        asked = {
            "devices": devices,
            "since": (now - timedelta(days=50)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat(),
        }

        def call(path: str, body: dict | None = None):
            request = urllib.request.Request(
                path if path.startswith("http") else url + path,
                data=None if body is None else json.dumps(body).encode(),
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()

        status, body = call("/api/exports/", asked)
        export = json.loads(body)
        done = wait_for(
            lambda: (
                (polled := json.loads(call(export["url"])[1]))["state"] in ("succeeded", "failed")
                and polled
            ),
            timeout=120,
            what=f"the export\n{worker.log[-3000:]}",
        )
        _, csv_file = call(done["download_url"])

        readings = app.scalar("SELECT count(*) FROM observations_attribute")
        lines = csv_file.decode().splitlines()
        tasks = len(re.findall(r"Task observations.export_readings\[[^]]+\] succeeded", worker.log))
        assert (status, done["state"], done["error"]) == (202, "succeeded", "")
        assert lines[0] == "device_id,device,name,value,units,valid_at"
        assert len(lines) - 1 == done["rows"] == readings
        assert len(set(lines)) == len(lines), "a reading exported twice"
        assert tasks == readings // PART_ROWS + 1, worker.log[-3000:]
        print(f"\nexport: {readings:,} readings written by {tasks} tasks, downloaded whole")


def refresh_rounds(deployment_, outcome: str) -> list[tuple]:
    return deployment_.query(
        "SELECT devices_refreshed, devices_failed, detail FROM interactions_jobrun "
        "WHERE name = 'refresh_all' AND outcome = %s ORDER BY started_at",
        outcome,
    )


def test_a_vendor_outage_fails_refresh_rounds_with_counts_until_it_ends(celery_project):
    # A round's batch expires when the next round is due: 5 s leaves a loaded machine the
    # time to start it, where a round the worker could not reach in time would fail for want
    # of CPU, not for the vendor.
    devices, interval = 20, 5
    with deployment(
        celery_project,
        REDIS_DBS["outage"],
        MONITOR_INTERVAL_SECONDS=str(interval),
        SIMULATOR_ERROR_RATE="1",  # every call answered 503
        SIMULATOR_BATCH_SIZE="5",
        VENDOR_RETRY_BASE_DELAY="0.5",
        VENDOR_RETRY_MAX_DELAY="2",
        # A round still running this long after it started is settled as failed.
        CELERY_TASK_TIME_LIMIT="6",
        CELERY_TASK_SOFT_TIME_LIMIT="5",
    ) as app:
        app.manage("seed_demo", "--devices", str(devices), "--history-days", "0")
        outage = app.start_worker("outage-worker")
        beat = app.start_beat()

        failed = wait_for(
            lambda: len(rounds := refresh_rounds(app, "failed")) >= 2 and rounds,
            timeout=90,
            what=f"two failed rounds\n{beat.log[-2000:]}\n{outage.log[-3000:]}",
        )
        # The vendor answers again: a worker whose simulated vendor is healthy takes over.
        outage.stop()
        app.variables["SIMULATOR_ERROR_RATE"] = "0"
        healthy = app.start_worker("healthy-worker")
        succeeded = wait_for(
            lambda: refresh_rounds(app, "succeeded"),
            timeout=150,
            what=f"a round after the outage\n{healthy.log[-3000:]}",
        )
        time.sleep(interval + 6 + 1)  # past the point where a round is settled as lost
        check = app.manage("run_job", "check_health")

        assert check.stdout.startswith("check_health: ")
        for refreshed, failed_devices, detail in failed[:2]:
            assert (refreshed, failed_devices) == (0, devices)
            assert detail.startswith(
                f"0 devices refreshed, {devices} failed; 1 of 1 batches failed: "
            )
        assert succeeded[0] == (devices, 0, f"{devices} devices refreshed, 0 failed")
        # Nothing reads "running" for ever: lost rounds are settled, and their batches go.
        assert not app.query(
            "SELECT id FROM interactions_jobrun WHERE outcome = 'running' "
            "AND started_at < now() - interval '10 seconds'"
        )
        assert not app.query(
            "SELECT b.id FROM interactions_refreshbatch b JOIN interactions_jobrun r "
            "ON r.id = b.run_id WHERE r.started_at < now() - interval '10 seconds'"
        )
        retries = len(re.findall(r"refresh_batch\[[^]]+\] retry", outage.log))
        expired = healthy.log.count("Discarding revoked task: interactions.refresh_batch")
        print(
            f"\noutage: {len(refresh_rounds(app, 'failed'))} rounds failed, 0 of {devices} "
            f"devices refreshed, {retries} retries; then "
            f"{len(refresh_rounds(app, 'succeeded'))} rounds refreshed all {devices}, and "
            f"{expired} batches of earlier rounds were dropped unrun"
        )


def test_two_beats_dispatch_each_periodic_job_once_per_interval(celery_project):
    interval, watched = 2, 14
    with deployment(
        celery_project,
        REDIS_DBS["beats"],
        MONITOR_INTERVAL_SECONDS=str(interval),
    ) as app:
        app.start_worker()
        beats = [app.start_beat("beat-one"), app.start_beat("beat-two")]
        wait_for(
            lambda: app.scalar("SELECT count(*) FROM interactions_jobrun") > 0,
            timeout=60,
            what="the first dispatch",
        )
        first = app.scalar("SELECT count(*) FROM interactions_jobrun WHERE name = 'refresh_all'")
        time.sleep(watched)
        runs = app.scalar("SELECT count(*) FROM interactions_jobrun WHERE name = 'refresh_all'")

        dispatched = runs - first
        assert watched // interval - 1 <= dispatched <= watched // interval + 1, dispatched
        sending = [beat for beat in beats if "Sending due task refresh_all" in beat.log]
        assert len(sending) == 1, [beat.log[-2000:] for beat in beats]
        print(
            f"\nbeats: 2 beats, {dispatched} refresh_all runs in {watched} s "
            f"at {interval} s intervals"
        )


def test_a_worker_refuses_to_start_when_redis_could_deliver_a_task_twice(celery_project):
    with deployment(celery_project, REDIS_DBS["refusal"], CELERY_VISIBILITY_TIMEOUT="60") as app:
        worker = app.start_worker()

        exit_code = worker.popen.wait(timeout=60)

    assert exit_code != 0
    assert (
        "Redis visibility_timeout (60 s) must exceed the task time limit plus the longest "
        "retry delay (390 s): raise CELERY_VISIBILITY_TIMEOUT."
    ) in worker.log


def test_heroku_scheduler_mode_refreshes_with_run_job_and_has_no_celery(tmp_path):
    root = bake(tmp_path, scheduler="heroku-scheduler")
    run([uv_executable(), "sync", "--quiet"], cwd=root)
    python = str(root / ".venv/bin/python")

    run([python, "manage.py", "migrate", "--verbosity", "0"], cwd=root)
    run([python, "manage.py", "seed_demo", "--devices", "25", "--history-days", "0"], cwd=root)
    result = run([python, "manage.py", "run_job", "refresh_all"], cwd=root)
    count = run(
        [
            python,
            "manage.py",
            "shell",
            "--verbosity",
            "0",
            "-c",
            "from django.db import connection; "
            "from iot_monitor.observations.models import Status; "
            "print(Status.objects.values('device').distinct().count()); "
            f"cursor = connection.cursor(); cursor.execute('{REPORTING_DEVICES}'); "
            "print(cursor.fetchone()[0])",
        ],
        cwd=root,
    )
    with_status, reporting = count.stdout.split()

    # Sensors and the offline device are refreshed too: they report no status.
    assert result.stdout.startswith("refresh_all: 25 devices refreshed, 0 failed in ")
    assert with_status == reporting
    assert 0 < int(reporting) < 25
    no_celery = subprocess.run([python, "-c", "import celery"], capture_output=True, text=True)
    assert "No module named 'celery'" in no_celery.stderr
    sources = [p for p in root.rglob("*.py") if ".venv" not in p.parts]
    assert not [p for p in sources if re.search(r"^\s*(from|import) celery", p.read_text(), re.M)]


PUSHING_DEVICES = 4
PUSHED_READINGS = 3
# What each of the seeded plugs measures in each reading period.
NAMES_PER_PLUG = 2
WEBHOOK_SECRET = "a-secret-shared-with-the-simulated-vendor"


def post_json(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, body, headers | {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def signed(body: bytes) -> dict[str, str]:
    # As the vendor signs, written here from the README rather than imported from the project.
    timestamp = str(int(time.time()))
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {"X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": f"sha256={digest.hexdigest()}"}


def test_pushes_through_gunicorn_are_stored_once_and_forgeries_refused(celery_project):
    """The webhook served by the Procfile's web line: the simulated vendor pushes with
    `manage.py simulate_push webhook`; every reading is stored once, however often it is
    pushed; a delivery received again stores nothing; an unsigned or tampered request is
    refused."""
    # No Redis: a push is stored in the request, with no task.
    with deployment(
        celery_project,
        None,
        database_prefix="webhooks",
        SIMULATOR_WEBHOOK_SECRET=WEBHOOK_SECRET,
    ) as app:
        app.manage("seed_demo", "--devices", str(PUSHING_DEVICES), "--history-days", "0")
        webhook = app.serve_web() + "/webhooks/simulator/"

        pushed = app.manage(
            "simulate_push", "webhook", "--readings", str(PUSHED_READINGS), "--url", webhook
        )
        again = app.manage(
            "simulate_push", "webhook", "--readings", str(PUSHED_READINGS), "--url", webhook
        )

        assert f"{PUSHING_DEVICES * PUSHED_READINGS} pushes accepted" in pushed.stdout
        assert again.stdout.strip().endswith(": 0 new rows.")
        assert app.scalar("SELECT count(*) FROM observations_attribute") == (
            PUSHING_DEVICES * PUSHED_READINGS * NAMES_PER_PLUG
        )
        heard_online = "SELECT count(*) FROM devices_device WHERE last_seen_at IS NOT NULL"
        assert app.scalar(heard_online + " AND reported_online") == PUSHING_DEVICES

        body = json.dumps(
            {"devices": [{"id": "sim-00001", "online": True, "status": None, "readings": []}]}
        ).encode()
        headers = signed(body)
        assert post_json(webhook, body, headers) == (200, {"devices": 1, "new_rows": 0})
        assert post_json(webhook, body, headers) == (
            200,
            {"devices": 0, "new_rows": 0, "delivered_already": True},
        )
        assert post_json(webhook, body, {})[0] == 401
        assert post_json(webhook, body.replace(b"true", b"false"), headers)[0] == 403
