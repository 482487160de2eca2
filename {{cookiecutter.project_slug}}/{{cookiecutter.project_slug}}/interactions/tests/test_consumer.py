"""consume_mqtt's consumer, with a fake paho client: batches stored by count or time and
acknowledged after their commit, unreadable messages acknowledged and logged, the database or
the broker away, SIGTERM, the storing process, and the silence health reports.
test_consumer_on_a_broker.py runs the consumer against a real broker."""

import json
import logging
import os
import re
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from django.core.management import CommandError, call_command
from django.db import DataError, OperationalError, connection
from django.utils import timezone
from paho.mqtt.reasoncodes import ReasonCode

from config.mqtt import Broker, BrokerURLError, broker_from_url

from ...devices.tests.factories import DeviceFactory
from ...observations.models import Attribute
from .. import consumer as consumer_module
from ..consumer import (
    CONSUMER,
    BatchNotStored,
    Consumer,
    ConsumerStopped,
    Received,
    Stored,
    Storer,
    StoringProcess,
    is_topic_filter,
    stored_or_why_not,
    subscriptions,
)
from ..health import check_health
from ..models import Alert, JobRun

TOPIC = "simulator/pushes"  # the test settings' SIMULATOR_MQTT_TOPIC (config/settings/test.py)
BROKER = Broker("broker.test", 1883, tls=False)
NOON = datetime(2026, 1, 15, 12, tzinfo=UTC)


def body(device_ids: list[str], at: datetime = NOON, value: float = 21.0) -> bytes:
    moment = at.isoformat()
    return json.dumps(
        {
            "devices": [
                {
                    "id": device_id,
                    "online": True,
                    "status": None,
                    "readings": [
                        {"name": "temperature", "value": value, "units": "°C", "timestamp": moment}
                    ],
                }
                for device_id in device_ids
            ]
        }
    ).encode()


class FakeClient:
    """What Consumer uses of a paho client: it records acknowledgements (and what the database
    held at the time), and its loop() delivers the messages queued with deliver()."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self.rows_when_acked: list[int] = []
        self.in_transaction_when_acked: list[bool] = []
        self.subscribed: list[str] = []
        self.inbox: list[mqtt.MQTTMessage] = []
        self.reconnect_errors: list[Exception] = []
        self.refusal: str | None = None
        self.disconnected = False
        self.next_mid = 1
        # Set by the Consumer, as on a paho client.
        self.on_connect: Any = None
        self.on_disconnect: Any = None
        self.on_message: Any = None
        self.connect_properties: Any = None

    def connect_async(self, host, port, keepalive, clean_start, properties):
        self.clean_start = clean_start
        self.connect_properties = properties

    def reconnect(self):
        if self.reconnect_errors:
            raise self.reconnect_errors.pop(0)
        flags = mqtt.ConnectFlags(session_present=False)
        code = ReasonCode(2, identifier=0x86 if self.refusal else 0)
        self.on_connect(self, None, flags, code, None)

    def subscribe(self, topics):
        self.subscribed += [topic for topic, _ in topics]

    def loop(self, timeout=1.0):
        while self.inbox:
            self.on_message(self, None, self.inbox.pop(0))
        return mqtt.MQTT_ERR_SUCCESS

    def ack(self, mid, qos):
        self.acked.append(mid)
        self.rows_when_acked.append(Attribute.objects.count())
        self.in_transaction_when_acked.append(connection.in_atomic_block)

    def disconnect(self):
        self.disconnected = True
        self.on_disconnect(self, None, mqtt.DisconnectFlags(False), ReasonCode(14), None)

    def deliver(self, payload: bytes, topic: str = TOPIC) -> int:
        message = mqtt.MQTTMessage(mid=self.next_mid, topic=topic.encode())
        message.payload = payload
        message.qos = 1
        self.inbox.append(message)
        self.next_mid += 1
        return message.mid


class StoringHere:
    """Stores each batch in the test's own process as it is sent, on the test's database
    connection: the consumer's storer in the tests with a fake broker."""

    def __init__(self) -> None:
        self.last: Stored | BatchNotStored | None = None

    def send(self, batch: list[Received], started_at: datetime) -> None:
        self.last = stored_or_why_not(batch, started_at)

    def answered(self) -> bool:
        return self.last is not None

    def answer(self) -> Stored:
        answer, self.last = self.last, None
        if answer is None:
            raise RuntimeError("no batch was sent")
        if isinstance(answer, BatchNotStored):
            raise answer
        return answer

    def close(self) -> None:
        pass


def warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def devices(db):
    return [DeviceFactory.create(vendor_device_id=f"sensor-{n}") for n in range(3)]


@pytest.fixture
def client():
    return FakeClient()


@pytest.fixture
def clock():
    return Clock()


def consumer_of(
    client: FakeClient, clock: Clock, batch_messages: int = 3, storer: Storer | None = None
) -> Consumer:
    consumer = Consumer(
        client,  # type: ignore[arg-type]
        BROKER,
        {TOPIC: "simulator"},
        batch_messages=batch_messages,
        batch_seconds=1.0,
        session_expiry=3600,
        storer=storer or StoringHere(),
        clock=clock,
        sleep=clock.sleep,
    )
    consumer.connect()
    return consumer


def test_it_asks_the_broker_for_a_persistent_session_and_two_batches_in_flight(client, clock):
    consumer_of(client, clock, batch_messages=500)

    assert client.clean_start is False
    assert client.connect_properties.SessionExpiryInterval == 3600
    # One batch being stored, the next one filling meanwhile.
    assert client.connect_properties.ReceiveMaximum == 1000
    assert client.subscribed == [TOPIC]


def test_the_topics_are_those_the_vendors_declare(settings):
    assert subscriptions() == {TOPIC: "simulator"}

    settings.VENDORS = {
        name: {**entry, "OPTIONS": {**entry["OPTIONS"], "mqtt_topic": ""}}
        for name, entry in settings.VENDORS.items()
    }

    assert subscriptions() == {}


@pytest.mark.django_db(transaction=True)
def test_a_full_batch_is_stored_in_one_transaction_then_acknowledged(devices, client, clock):
    consumer = consumer_of(client, clock)
    mids = [client.deliver(body([device.vendor_device_id])) for device in devices[:2]]
    client.loop()
    assert not consumer.due()
    assert Attribute.objects.count() == 0

    mids.append(client.deliver(body([devices[2].vendor_device_id])))
    client.loop()
    assert consumer.due()
    consumer.flush()

    assert client.acked == mids
    # Every acknowledgement went out after the commit, with all three readings stored.
    assert client.rows_when_acked == [3, 3, 3]
    assert client.in_transaction_when_acked == [False, False, False]
    run = JobRun.objects.get(name=CONSUMER)
    assert (run.outcome, run.detail) == (JobRun.Outcome.SUCCEEDED, "3 messages, 3 new rows")


def test_a_batch_is_stored_once_its_first_message_has_waited(devices, client, clock):
    consumer = consumer_of(client, clock)
    mid = client.deliver(body(["sensor-0"]))
    client.loop()
    clock.now += 0.9
    assert not consumer.due()

    clock.now += 0.1
    assert consumer.due()
    consumer.flush()

    assert client.acked == [mid]
    assert Attribute.objects.count() == 1


def test_a_batch_the_database_cannot_take_is_neither_acknowledged_nor_dropped(
    devices, client, clock, monkeypatch
):
    consumer = consumer_of(client, clock)
    client.deliver(body(["sensor-0"]))
    client.loop()

    def database_away(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(consumer_module, "store_pushed", database_away)
    with pytest.raises(BatchNotStored, match="connection refused"):
        consumer.flush()
    assert client.acked == []

    monkeypatch.undo()
    consumer.flush()
    assert client.acked == [1]
    assert Attribute.objects.count() == 1


def test_a_message_no_client_can_read_is_acknowledged_and_logged_once(
    devices, client, clock, caplog
):
    consumer = consumer_of(client, clock)
    unreadable = client.deliver(b"{not json")
    readable = client.deliver(body(["sensor-0"]))
    elsewhere = client.deliver(body(["sensor-1"]), topic="someone/else")
    with caplog.at_level(logging.WARNING, logger=consumer_module.__name__):
        client.loop()
        consumer.flush()

    # A message of no vendor's topic at once; one its vendor cannot read with its batch.
    assert client.acked == [elsewhere, unreadable, readable]
    assert Attribute.objects.count() == 1
    assert consumer.stored.refused == 1
    assert warnings(caplog) == [
        f"MQTT message {elsewhere} on someone/else dropped: no vendor publishes to this topic",
        f"MQTT message {unreadable} on {TOPIC} dropped: the body is not JSON this project "
        "reads: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    ]


def test_a_message_whose_readings_the_database_refuses_is_dropped_alone(
    devices, client, clock, monkeypatch, caplog
):
    consumer = consumer_of(client, clock)
    refused = client.deliver(body(["sensor-0"], value=-1.0))
    stored = client.deliver(body(["sensor-1"]))
    client.loop()
    store_pushed = consumer_module.store_pushed

    def refuse_negative(vendor, reports):
        if any(reading.value < 0 for report in reports for reading in report.readings):
            raise DataError("value out of range")
        return store_pushed(vendor, reports)

    monkeypatch.setattr(consumer_module, "store_pushed", refuse_negative)
    with caplog.at_level(logging.WARNING, logger=consumer_module.__name__):
        consumer.flush()

    assert client.acked == [refused, stored]
    assert list(Attribute.objects.values_list("device__vendor_device_id", flat=True)) == [
        "sensor-1"
    ]
    assert warnings(caplog) == [
        f"MQTT message {refused} on {TOPIC} dropped: "
        "the readings cannot be stored: value out of range"
    ]
    assert consumer.stored.refused == 1


def test_messages_in_hand_when_the_connection_drops_are_left_to_the_broker(devices, client, clock):
    consumer = consumer_of(client, clock)
    client.deliver(body(["sensor-0"]))
    client.loop()

    client.on_disconnect(client, None, mqtt.DisconnectFlags(False), ReasonCode(14), None)
    consumer.flush()

    assert client.acked == []
    assert Attribute.objects.count() == 0


def test_a_batch_stored_after_its_connection_dropped_is_left_to_the_broker(devices, client, clock):
    consumer = consumer_of(client, clock)
    client.deliver(body(["sensor-0"]))
    client.loop()
    consumer.store_in_hand()

    client.on_disconnect(client, None, mqtt.DisconnectFlags(False), ReasonCode(14), None)
    client.reconnect()
    consumer.acknowledge()

    # Stored, but the resumed session sends it again, under the same packet id.
    assert Attribute.objects.count() == 1
    assert client.acked == []


def test_the_same_readings_received_again_add_no_row(devices, client, clock):
    consumer = consumer_of(client, clock)
    for _ in range(2):
        client.deliver(body(["sensor-0", "sensor-1"]))
        client.loop()
        consumer.flush()

    assert Attribute.objects.count() == 2
    assert client.acked == [1, 2]


def test_an_unreachable_broker_is_tried_again_later_each_time(client, clock, caplog):
    client.reconnect_errors = [ConnectionRefusedError(111, "Connection refused")] * 4
    with caplog.at_level(logging.WARNING, logger=consumer_module.__name__):
        consumer_of(client, clock)

    assert len(warnings(caplog)) == 4
    waits = [float(line.rsplit("in ", 1)[1].split()[0]) for line in warnings(caplog)]
    assert waits == sorted(waits) and waits[-1] >= 4
    assert client.subscribed == [TOPIC]


def test_wrong_credentials_stop_the_consumer_with_one_line(client, clock):
    client.refusal = "Bad user name or password"

    with pytest.raises(ConsumerStopped, match="Check the user and password in MQTT_URL"):
        consumer_of(client, clock)


def test_a_stop_stores_and_acknowledges_the_batch_in_hand_then_leaves(devices, client, clock):
    consumer = consumer_of(client, clock, batch_messages=100)
    mids = [client.deliver(body([device.vendor_device_id])) for device in devices]
    real_loop = client.loop

    def loop_then_sigterm(timeout=1.0):
        real_loop()
        consumer.stop()  # as the SIGTERM handler does
        return mqtt.MQTT_ERR_SUCCESS

    client.loop = loop_then_sigterm
    consumer.run()

    assert client.acked == mids
    assert Attribute.objects.count() == 3
    assert client.disconnected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1", Broker("127.0.0.1", 1883, tls=False)),
        (
            "mqtts://user:p%40ss%3Aword@broker.example.com",
            Broker("broker.example.com", 8883, True, "user", "p@ss:word"),
        ),
        ("mqtt://u:p@broker:1884/", Broker("broker", 1884, False, "u", "p")),
    ],
)
def test_a_broker_url_names_host_port_tls_and_credentials(url, expected):
    assert broker_from_url(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "MQTT_URL is not set"),
        ("http://user:secret@broker:1883", "must start with mqtt:// or mqtts://"),
        ("broker.example.com:1883", "must start with mqtt:// or mqtts://"),
        ("mqtt://user:secret@broker:99999", "names no host, or a port"),
        ("mqtt://user:secret@:1883", "names no host, or a port"),
        ("mqtts://user:secret@broker:8883/topic", "has a path"),
    ],
)
def test_a_broker_url_that_is_not_one_is_one_line_without_the_password(url, says):
    with pytest.raises(BrokerURLError) as refused:
        broker_from_url(url)

    message = str(refused.value)
    assert says in message
    assert "\n" not in message and "secret" not in message


def test_the_broker_shows_no_password():
    broker = broker_from_url("mqtts://user:secret@broker.example.com")

    assert "secret" not in f"{broker} {broker!r}"


def test_consume_mqtt_with_a_bad_url_is_one_line(settings):
    settings.MQTT_URL = "amqp://127.0.0.1:5672"

    with pytest.raises(CommandError, match=r"^MQTT_URL must start with mqtt://"):
        call_command("consume_mqtt")


@pytest.mark.parametrize("topic", ["acme/#/state", "acme/dev+/state", "acme/state#"])
def test_consume_mqtt_with_a_topic_no_broker_takes_is_one_line(settings, topic):
    simulator = settings.VENDORS["simulator"]
    options = {**simulator["OPTIONS"], "mqtt_topic": topic}
    settings.VENDORS = {**settings.VENDORS, "simulator": {**simulator, "OPTIONS": options}}

    says = re.escape(f"simulator's MQTT topic {topic!r} is not a topic filter")
    with pytest.raises(CommandError, match=f"^{says}"):
        call_command("consume_mqtt")


def test_wildcards_that_stand_for_whole_levels_make_topic_filters():
    assert all(map(is_topic_filter, ["acme/+/state", "acme/#", "#", "+", "acme/state"]))


@pytest.fixture
def hourly_consumer(settings):
    settings.MQTT_SILENT_AFTER_SECONDS = 3600
    return settings


def received_at(moment: datetime) -> None:
    JobRun.objects.create(
        name=CONSUMER, started_at=moment, finished_at=moment, outcome=JobRun.Outcome.SUCCEEDED
    )


def consumer_alerts() -> list[tuple[str, bool]]:
    return [(alert.message, alert.is_open) for alert in Alert.objects.filter(subject=CONSUMER)]


@pytest.mark.django_db
def test_a_consumer_that_stops_receiving_raises_one_alert_resolved_when_it_receives(
    hourly_consumer,
):
    now = timezone.now()
    received_at(now - timedelta(hours=2))

    check_health(now)
    check_health(now + timedelta(minutes=5))

    (alert,) = Alert.objects.filter(subject=CONSUMER)
    assert alert.is_open
    assert alert.message.startswith(f"{CONSUMER} has received no MQTT message since ")

    received_at(now + timedelta(minutes=6))
    check_health(now + timedelta(minutes=7))

    alert.refresh_from_db()
    assert not alert.is_open
    assert Alert.objects.filter(subject=CONSUMER).count() == 1


@pytest.mark.django_db
def test_a_consumer_that_never_received_or_is_not_watched_raises_no_alert(hourly_consumer):
    now = timezone.now()
    check_health(now)
    assert consumer_alerts() == []

    received_at(now - timedelta(hours=2))
    hourly_consumer.MQTT_SILENT_AFTER_SECONDS = 0
    check_health(now)
    assert consumer_alerts() == []


@pytest.mark.django_db
def test_the_consumer_keeps_a_day_of_its_runs(devices, client, clock):
    received_at(timezone.now() - timedelta(days=2))
    received_at(timezone.now() - timedelta(hours=2))
    consumer = consumer_of(client, clock)
    client.deliver(body(["sensor-0"]))
    client.loop()
    consumer.flush()

    assert JobRun.objects.filter(name=CONSUMER).count() == 2


# The storing process, as consume_mqtt runs it: forked, storing in the test's database.


@pytest.fixture
def committed_devices(transactional_db):
    return [DeviceFactory.create(vendor_device_id=f"sensor-{n}") for n in range(3)]


@pytest.fixture
def fork_storing_process(monkeypatch):
    """Forks a storing process, its store_pushed replaced first when a test gives one: the
    process takes the patch with it. Each is closed after the test."""
    forked: list[StoringProcess] = []

    def fork(store_pushed=None) -> StoringProcess:
        if store_pushed is not None:
            monkeypatch.setattr(consumer_module, "store_pushed", store_pushed)
        forked.append(StoringProcess())
        return forked[-1]

    yield fork
    for storer in forked:
        storer.close()


def test_a_batch_is_stored_by_a_process_of_its_own_while_the_next_is_received(
    committed_devices, client, clock, fork_storing_process, tmp_path
):
    go_on = tmp_path / "go-on"
    store_pushed = consumer_module.store_pushed

    def store_when_told(vendor, reports):
        (tmp_path / "stored-by").write_text(str(os.getpid()))
        # Not forever: stored in the test's own process, the batch would block it.
        deadline = time.monotonic() + 10
        while not go_on.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return store_pushed(vendor, reports)

    storer = fork_storing_process(store_when_told)
    consumer = consumer_of(client, clock, batch_messages=2, storer=storer)
    first = [client.deliver(body([sensor])) for sensor in ("sensor-0", "sensor-1")]
    client.loop()
    consumer.store_in_hand()
    second = client.deliver(body(["sensor-2"]))
    client.loop()

    # The next message is received while the batch is being stored, elsewhere.
    assert [message.mid for message in consumer.pending] == [second]
    assert not storer.answered()
    assert client.acked == []
    go_on.touch()
    consumer.acknowledge()
    assert client.acked == first
    assert client.rows_when_acked == [2, 2]
    assert int((tmp_path / "stored-by").read_text()) != os.getpid()

    consumer.flush()
    assert client.acked == [*first, second]
    assert consumer.stored.messages == 3


def test_the_storing_process_answers_a_database_error_and_stores_the_batch_again(
    committed_devices, client, clock, fork_storing_process, tmp_path
):
    tried = tmp_path / "tried"
    store_pushed = consumer_module.store_pushed

    def database_away_once(vendor, reports):
        if not tried.exists():
            tried.touch()
            raise OperationalError("connection refused")
        return store_pushed(vendor, reports)

    consumer = consumer_of(client, clock, storer=fork_storing_process(database_away_once))
    mid = client.deliver(body(["sensor-0"]))
    client.loop()

    with pytest.raises(BatchNotStored, match=r"^connection refused$"):
        consumer.flush()
    assert client.acked == []
    assert [message.mid for message in consumer.pending] == [mid]

    consumer.flush()
    assert client.acked == [mid]
    assert Attribute.objects.count() == 1


def test_a_storing_process_that_dies_stops_the_consumer_with_one_line(
    committed_devices, client, clock, fork_storing_process
):
    storer = fork_storing_process()
    consumer = consumer_of(client, clock, storer=storer)
    os.kill(storer.process.pid, signal.SIGKILL)
    storer.process.join()
    client.deliver(body(["sensor-0"]))
    client.loop()

    with pytest.raises(ConsumerStopped, match=r"^The storing process stopped \(exit code -9\)"):
        consumer.flush()
    assert client.acked == []


def test_the_storing_process_outlives_sigterm_and_ends_when_the_consumer_stops(
    committed_devices, client, clock, fork_storing_process
):
    # Heroku's SIGTERM reaches every process of the dyno: the consumer says when to stop.
    storer = fork_storing_process()
    consumer = consumer_of(client, clock, storer=storer)
    os.kill(storer.process.pid, signal.SIGTERM)
    mids = [client.deliver(body([device.vendor_device_id])) for device in committed_devices]
    real_loop = client.loop

    def loop_then_sigterm(timeout=1.0):
        real_loop()
        consumer.stop()
        return mqtt.MQTT_ERR_SUCCESS

    client.loop = loop_then_sigterm
    consumer.run()

    assert client.acked == mids
    assert Attribute.objects.count() == 3
    assert storer.process.exitcode == 0
