"""A baked project's MQTT consumer against real Mosquitto and PostgreSQL: readings published at
QoS 1 are stored exactly once though the consumer is SIGKILLed mid-stream and started again,
and though the broker itself stops and starts again while the consumer runs.

The first test uses the machine's Mosquitto on 127.0.0.1:1883, on a topic and a client id of
its own; the second starts a Mosquitto of its own on a free port, with persistence, so that
the consumer's session outlives the restart as it would on a hosted broker.
"""

from __future__ import annotations

import getpass
import secrets
import time
from pathlib import Path

import pytest

from .baking import bake, require_service, run, uv_executable
from .services import Deployment, OwnServer, ProjectProcess, deployment, wait_for

pytestmark = pytest.mark.end_to_end

# Every simulated device reports each reading period; one message per period holds them all.
# 250 devices of seed_demo's mix report about 200 readings a period.
DEVICES = 250
PERIODS = 500
READINGS = "SELECT count(*) FROM observations_attribute"
DUPLICATES = (
    "SELECT count(*) FROM (SELECT 1 FROM observations_attribute "
    "GROUP BY device_id, name, valid_at HAVING count(*) > 1) AS duplicates"
)
# One period's readings: every reading name of each simulated device that is online.
READINGS_PER_PERIOD = (
    "SELECT sum(jsonb_array_length(d.reading_names)) FROM devices_device d "
    "JOIN vendors_simulateddevice v ON v.vendor_device_id = d.vendor_device_id WHERE v.online"
)


@pytest.fixture(scope="module")
def mqtt_project(tmp_path_factory):
    root = bake(tmp_path_factory.mktemp("mqtt"), scheduler="heroku-scheduler", use_mqtt=True)
    run([uv_executable(), "sync", "--quiet"], cwd=root)
    return root


def consumer_variables(broker_url: str) -> dict[str, str]:
    """A topic and a session of the test's own, which the broker forgets within minutes."""
    run_id = secrets.token_hex(6)
    return {
        "MQTT_URL": broker_url,
        "MQTT_CLIENT_ID": f"e2e-{run_id}",
        "MQTT_SESSION_EXPIRY_SECONDS": "300",
        "SIMULATOR_MQTT_TOPIC": f"e2e/{run_id}/pushes",
        "SIMULATOR_READING_PERIOD": "60",
        # Batches of two messages, some 800 readings: hundreds of commits, so the stream is
        # still flowing when it is broken, however fast the consumer stores.
        "MQTT_BATCH_MESSAGES": "2",
    }


def start(app: Deployment, name: str, *arguments: str) -> ProjectProcess:
    python = str(app.project / ".venv/bin/python")
    process = ProjectProcess(app.project, name, [python, "manage.py", *arguments], app.variables)
    app.processes.append(process)
    return process


def start_consumer(app: Deployment, name: str) -> ProjectProcess:
    consumer = start(app, name, "consume_mqtt")
    wait_for(lambda: "Connected to MQTT broker" in consumer.log, 30, f"{name} to connect")
    return consumer


def finished(process: ProjectProcess, timeout: float) -> int:
    wait_for(lambda: process.popen.poll() is not None, timeout, f"{process.name} to finish")
    return process.popen.returncode


def assert_stored_once(app: Deployment, expected: int) -> None:
    assert app.scalar(READINGS) == expected
    assert app.scalar(DUPLICATES) == 0


def test_a_consumer_killed_mid_stream_loses_nothing_and_duplicates_nothing(mqtt_project):
    require_service("Mosquitto")
    with deployment(
        mqtt_project, None, "mqtt", **consumer_variables("mqtt://127.0.0.1:1883")
    ) as app:
        app.manage("seed_demo", "--devices", str(DEVICES), "--history-days", "0")
        expected = PERIODS * app.scalar(READINGS_PER_PERIOD)
        assert expected >= 100_000
        first = start_consumer(app, "first-consumer")
        started_at = time.monotonic()
        publisher = start(app, "publisher", "simulate_push", "mqtt", "--readings", str(PERIODS))

        stored_before_kill = wait_for(
            lambda: (stored := app.scalar(READINGS)) >= expected // 5 and stored,
            timeout=120,
            what=f"a fifth of the readings\n{first.log[-3000:]}",
            poll=0.05,
        )
        first.kill()
        assert stored_before_kill < expected, "the consumer finished before it could be killed"

        second = start_consumer(app, "second-consumer")
        assert finished(publisher, 120) == 0, publisher.log
        wait_for(
            lambda: app.scalar(READINGS) >= expected,
            timeout=120,
            what=f"every reading after the kill\n{second.log[-3000:]}",
        )
        elapsed = time.monotonic() - started_at
        second.stop()

        assert_stored_once(app, expected)
        assert second.popen.returncode == 0
        assert "Stopped: " in second.log
        print(
            f"\nmqtt kill: {expected:,} readings in {PERIODS} messages, {stored_before_kill:,} "
            f"stored before SIGKILL, all stored once {elapsed:.1f} s after the first was "
            "published; 0 duplicates"
        )


class OwnMosquitto(OwnServer):
    """A mosquitto of the test's own on a free port, persisting its sessions to a directory:
    stopped (SIGTERM, which saves them) and started again, it still holds the consumer's
    session and the messages queued for it."""

    def __init__(self, directory: Path):
        super().__init__("mosquitto", "mosquitto")
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            # Started as root, mosquitto would run as its own user, who cannot write here.
            f"user {getpass.getuser()}\n"
            # Keep every message for a session that is away, however many.
            "max_queued_messages 0\n"
        )

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.config)]


def test_a_consumer_reconnects_by_itself_after_the_broker_restarts(mqtt_project, tmp_path):
    broker = OwnMosquitto(tmp_path)
    broker.start()
    try:
        with deployment(mqtt_project, None, "mqtt", **consumer_variables(broker.url)) as app:
            app.manage("seed_demo", "--devices", "40", "--history-days", "0")
            devices = [
                device
                for (device,) in app.query(
                    "SELECT vendor_device_id FROM vendors_simulateddevice "
                    "WHERE online ORDER BY vendor_device_id"
                )
            ]
            before, after = devices[: len(devices) // 2], devices[len(devices) // 2 :]
            consumer = start_consumer(app, "consumer")
            publisher = start(
                app,
                "publisher-before",
                *("simulate_push", "mqtt", "--readings", "2000", "--devices", *before),
            )
            wait_for(
                lambda: app.scalar(READINGS) > 0,
                60,
                f"readings\n{consumer.log[-3000:]}",
                poll=0.05,
            )
            broker.stop()
            publishing = publisher.popen.poll() is None
            # The vendor's publisher goes too; the consumer tries the broker again meanwhile.
            publisher.kill()
            wait_for(lambda: "cannot be reached" in consumer.log, 30, "a failed reconnection")
            broker.start()

            # Published after the restart, maybe before the consumer is back: its session
            # on the broker holds them.
            late = start(
                app,
                "publisher-after",
                *("simulate_push", "mqtt", "--readings", "100", "--devices", *after),
            )
            assert finished(late, 60) == 0, late.log
            expected_after = 100 * app.scalar(
                "SELECT sum(jsonb_array_length(reading_names)) FROM devices_device "
                "WHERE vendor_device_id = ANY(%s)",
                after,
            )
            wait_for(
                lambda: (
                    app.scalar(
                        "SELECT count(*) FROM observations_attribute a JOIN devices_device d "
                        "ON d.id = a.device_id WHERE d.vendor_device_id = ANY(%s)",
                        after,
                    )
                    >= expected_after
                ),
                60,
                f"the readings published after the restart\n{consumer.log[-3000:]}",
            )
            consumer.stop()

            assert consumer.popen.returncode == 0
            assert consumer.log.count("Connected to MQTT broker") == 2
            assert "(resumed session)" in consumer.log
            assert app.scalar(DUPLICATES) == 0
            print(
                f"\nmqtt broker restart: stopped while publishing: {publishing}; "
                f"{expected_after:,} readings published after the restart, all stored; "
                "0 duplicates"
            )
    finally:
        broker.stop()
