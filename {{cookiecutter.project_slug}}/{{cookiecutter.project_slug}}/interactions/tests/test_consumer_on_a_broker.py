"""The consumer and simulate_push's publisher on a real MQTT broker: what is published at QoS 1
is stored, and what is published while the consumer is away waits in its session.

They need the broker MQTT_URL names, as in CI (mqtt://127.0.0.1:1883 there). Without one they
are skipped, and fail in CI (where CI is set), which must have it. Each test has a topic and a
client id of its own, and a session that expires within a minute.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from config.mqtt import Broker, BrokerURLError, broker_from_url, new_client
from tests.services import service_missing

from ...devices.tests.factories import DeviceFactory
from ...observations.models import Attribute
from ...vendors import mqtt_push
from ...vendors.mqtt_push import publish
from ...vendors.simulator import simulated_cloud
from ..consumer import Consumer, StoringProcess

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 1, 15, 12, tzinfo=UTC)


@pytest.fixture
def broker() -> Broker:
    """The broker MQTT_URL names; skipped without one, failed in CI."""
    url = os.environ.get("MQTT_URL", "")
    try:
        if not url:
            raise OSError("MQTT_URL is unset")
        broker = broker_from_url(url)
        socket.create_connection((broker.host, broker.port), timeout=2).close()
    except (OSError, BrokerURLError) as error:
        service_missing(
            "An MQTT broker", str(error), "set MQTT_URL=mqtt://127.0.0.1:1883 to run these tests"
        )
    return broker


@pytest.fixture
def topic() -> str:
    return f"tests/{secrets.token_hex(6)}/pushes"


@pytest.fixture
def sensors() -> list[str]:
    return [DeviceFactory.create(vendor_device_id=f"sensor-{n}").vendor_device_id for n in range(5)]


def bodies(sensors: list[str], periods: range) -> list[bytes]:
    """One push per minute of `periods`, with a reading of every sensor."""
    pushes = []
    for minute in periods:
        at = (START + timedelta(minutes=minute)).isoformat()
        reports = [
            {
                "id": sensor,
                "online": True,
                "status": None,
                "readings": [
                    {"name": "temperature", "value": 20.0, "units": "°C", "timestamp": at}
                ],
            }
            for sensor in sensors
        ]
        pushes.append(json.dumps({"devices": reports}).encode())
    return pushes


class Running:
    """A consumer running in a thread of its own until stopped."""

    def __init__(self, broker: Broker, topic: str, client_id: str):
        client = new_client(broker, client_id=client_id, manual_ack=True)
        self.consumer = Consumer(
            client,
            broker,
            {topic: "simulator"},
            batch_messages=20,
            batch_seconds=0.2,
            session_expiry=60,
            storer=StoringProcess(),
        )
        self.thread = threading.Thread(target=self.run)
        self.thread.start()
        wait_for(lambda: self.consumer.connected, "the consumer to connect")

    def run(self) -> None:
        try:
            self.consumer.run()
        finally:
            connection.close()

    def stop(self) -> None:
        self.consumer.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def consumers(broker: Broker, topic: str) -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for running in started:
        if running.thread.is_alive():
            running.stop()


def wait_for(condition, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:g} s for {what}")
        time.sleep(0.05)


def test_what_is_published_is_stored_once_and_acknowledged(broker, topic, sensors, consumers):
    client_id = f"tests-{secrets.token_hex(6)}"
    consumers.append(running := Running(broker, topic, client_id))

    published = publish(broker, topic, bodies(sensors, range(60)))
    # The same readings again, as a vendor that was not sure they arrived sends them.
    publish(broker, topic, bodies(sensors, range(50, 60)))

    wait_for(lambda: running.consumer.stored.messages == 70, "70 messages to be stored")
    running.stop()
    assert published == 60
    assert Attribute.objects.count() == 60 * len(sensors)
    assert running.consumer.stored.new_rows == 60 * len(sensors)


def test_the_publisher_waits_for_the_broker_a_chunk_at_a_time(
    broker, topic, sensors, consumers, monkeypatch
):
    # Packet ids have 16 bits: more messages than that cannot wait for the broker at once.
    monkeypatch.setattr(mqtt_push, "IN_FLIGHT", 3)
    consumers.append(running := Running(broker, topic, f"tests-{secrets.token_hex(6)}"))

    assert publish(broker, topic, bodies(sensors, range(7))) == 7

    wait_for(lambda: running.consumer.stored.messages == 7, "the 7 messages")
    running.stop()
    assert Attribute.objects.count() == 7 * len(sensors)


def test_what_is_published_while_the_consumer_is_away_waits_in_its_session(
    broker, topic, sensors, consumers
):
    client_id = f"tests-{secrets.token_hex(6)}"
    consumers.append(first := Running(broker, topic, client_id))
    publish(broker, topic, bodies(sensors, range(10)))
    wait_for(lambda: first.consumer.stored.messages == 10, "the first 10 messages")
    first.stop()

    publish(broker, topic, bodies(sensors, range(10, 40)))
    consumers.append(second := Running(broker, topic, client_id))

    wait_for(lambda: second.consumer.stored.messages == 30, "the 30 published meanwhile")
    second.stop()
    assert Attribute.objects.count() == 40 * len(sensors)


def test_simulate_push_publishes_a_message_per_period_that_the_consumer_stores(
    broker, topic, consumers, settings, capsys
):
    call_command("seed_demo", "--devices", "3", "--history-days", "0")
    settings.MQTT_URL = str(broker)
    settings.VENDORS = {
        **settings.VENDORS,
        "simulator": {
            **settings.VENDORS["simulator"],
            "OPTIONS": {**settings.VENDORS["simulator"]["OPTIONS"], "mqtt_topic": topic},
        },
    }
    assert simulated_cloud().options.mqtt_topic == topic
    consumers.append(running := Running(broker, topic, f"tests-{secrets.token_hex(6)}"))

    call_command("simulate_push", "mqtt", "--readings", "4")

    assert f"4 messages of 3 devices published to {topic} on {broker}." in capsys.readouterr().out
    # Three plugs, four reading periods, two readings each (power and temperature).
    wait_for(lambda: running.consumer.stored.messages == 4, "the 4 messages")
    running.stop()
    assert Attribute.objects.count() == 24


def test_simulate_push_to_a_broker_that_does_not_answer_is_one_line(settings):
    call_command("seed_demo", "--devices", "1", "--history-days", "0")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        settings.MQTT_URL = f"mqtt://127.0.0.1:{probe.getsockname()[1]}"

    with pytest.raises(CommandError, match=r"^the MQTT broker mqtt://127.0.0.1:\d+ cannot be"):
        call_command("simulate_push", "mqtt")
