"""`manage.py consume_mqtt`: vendors' pushes received from an MQTT broker, stored as a webhook's.

The consumer subscribes, at QoS 1, to the topic each vendor's client declares (mqtt_topic) and
reads every message with that client's parse_push, the reader of its webhooks. It keeps one
persistent session on the broker (MQTT 5, clean_start off, MQTT_CLIENT_ID, kept for
MQTT_SESSION_EXPIRY_SECONDS): while it restarts or reconnects, the broker holds the messages of
its subscriptions for it, and sends again those it had not acknowledged.

A message is acknowledged only once what it says is committed. Messages are stored in batches,
one transaction each, through interactions.jobs.store_pushed as a webhook's push is; a batch is
stored when it holds MQTT_BATCH_MESSAGES messages or its first has waited MQTT_BATCH_SECONDS,
and its messages are acknowledged after the commit. A consumer that dies before that leaves
them unacknowledged, the broker sends them again, and storing them again adds no row: every
reading is stored once. The broker sends at most MQTT_BATCH_MESSAGES unacknowledged messages
(the session's Receive Maximum), so a batch can fill.

A message no vendor's client can read (MalformedPush), or whose readings the database refuses,
is logged once and acknowledged: sending it again would not make it readable, and it must not
hold up the messages behind it. Each committed batch leaves a JobRun of `consume_mqtt`, the
heartbeat health reads (mqtt_problems): a consumer that received messages and then receives
none for MQTT_SILENT_AFTER_SECONDS raises an alert.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from config.mqtt import Broker

from ..vendors.base import DeviceReport, MalformedPush
from ..vendors.registry import vendor_client
from .jobs import store_pushed
from .models import JobRun

logger = logging.getLogger(__name__)

# The name of the consumer's runs (JobRun), one per committed batch.
CONSUMER = "consume_mqtt"
# Runs older than this are deleted as new ones are recorded: the newest says enough.
KEEP_RUNS = timedelta(days=1)
# Seconds between attempts to reach the broker or the database: doubled after each failure,
# up to the cap, with jitter so that consumers restarted together do not retry together.
FIRST_RETRY = 1.0
LAST_RETRY = 30.0
# The broker's refusals that no retry can mend: the URL's credentials are wrong.
REFUSALS_TO_FIX = {"Bad user name or password", "Not authorized", "Client identifier not valid"}
# Seconds the broker has to answer a connection.
CONNECT_TIMEOUT = 10.0
# Unreadable: a body the client cannot parse; refused: readings the database cannot hold.
UNSTORABLE = (DataError, IntegrityError, OverflowError)


class ConsumerStopped(Exception):
    """The broker refuses the consumer for a reason only its settings can fix: one line."""


@dataclass(frozen=True)
class Received:
    """A message read, waiting for its batch to be committed before it is acknowledged."""

    mid: int
    qos: int
    topic: str
    vendor: str
    reports: list[DeviceReport]


@dataclass(frozen=True)
class Stored:
    messages: int
    new_rows: int
    refused: int  # messages whose readings the database refused, acknowledged all the same


def subscriptions() -> dict[str, str]:
    """Topic filter -> vendor, for each vendor whose client declares an mqtt_topic."""
    topics = {}
    for vendor in settings.VENDORS:
        topic = getattr(vendor_client(vendor), "mqtt_topic", "")
        if topic:
            topics[topic] = vendor
    return topics


def retry_delay(previous: float) -> float:
    return min(LAST_RETRY, max(FIRST_RETRY, 2 * previous)) * random.uniform(0.8, 1.0)


def store_batch(batch: list[Received], started_at: datetime) -> Stored:
    """Store the batch's readings in one transaction with its JobRun; a message whose readings
    the database refuses is found by storing the others one by one, and logged."""
    try:
        with transaction.atomic():
            new_rows = _store(batch)
            _record(batch, new_rows, started_at)
        return Stored(len(batch), new_rows, refused=0)
    except UNSTORABLE:
        pass
    new_rows = refused = 0
    for message in batch:
        try:
            with transaction.atomic():
                new_rows += _store([message])
        except UNSTORABLE as error:
            refused += 1
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            dropped(message.topic, message.mid, f"the readings cannot be stored: {first_line}")
    with transaction.atomic():
        _record(batch, new_rows, started_at)
    return Stored(len(batch), new_rows, refused)


def _store(batch: list[Received]) -> int:
    by_vendor: dict[str, list[DeviceReport]] = defaultdict(list)
    for message in batch:
        by_vendor[message.vendor] += message.reports
    return sum(len(store_pushed(vendor, reports).new_keys) for vendor, reports in by_vendor.items())


def _record(batch: list[Received], new_rows: int, started_at: datetime) -> None:
    now = timezone.now()
    JobRun.objects.create(
        name=CONSUMER,
        started_at=started_at,
        finished_at=now,
        outcome=JobRun.Outcome.SUCCEEDED,
        detail=f"{len(batch):,} messages, {new_rows:,} new rows",
    )
    JobRun.objects.filter(name=CONSUMER, started_at__lt=now - KEEP_RUNS).delete()


def last_received() -> datetime | None:
    """When the consumer last committed a batch; None when it never has."""
    return JobRun.objects.filter(name=CONSUMER).aggregate(last=Max("finished_at"))["last"]


def dropped(topic: str, mid: int, why: str) -> None:
    logger.warning("MQTT message %d on %s dropped: %s", mid, topic, why)


class Consumer:
    """Receives messages on `client`, stores them in batches and acknowledges them after the
    commit; run() until stop()."""

    def __init__(
        self,
        client: mqtt.Client,
        broker: Broker,
        topics: dict[str, str],
        *,
        batch_messages: int,
        batch_seconds: float,
        session_expiry: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.broker = broker
        self.topics = topics
        self.vendors: dict[str, str | None] = {}
        self.batch_messages = batch_messages
        self.batch_seconds = batch_seconds
        self.clock = clock
        self.sleep = sleep
        self.pending: list[Received] = []
        self.first_at: float | None = None
        self.first_received_at: datetime | None = None
        self.connected = False
        self.refusal: str | None = None
        self.stopping = False
        self.retry_at = 0.0
        self.stored = Stored(0, 0, 0)
        client.on_connect = self.on_connect
        client.on_disconnect = self.on_disconnect
        client.on_message = self.on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = session_expiry
        # The most messages the broker sends before they are acknowledged: a whole batch.
        properties.ReceiveMaximum = min(batch_messages, 65535)
        client.connect_async(
            broker.host, broker.port, keepalive=60, clean_start=False, properties=properties
        )

    def stop(self, *args: Any) -> None:
        """Finish the batch in hand, then return from run(); a signal handler."""
        self.stopping = True

    def run(self) -> None:
        delay = 0.0
        while not self.stopping:
            if not self.connected:
                self.connect()
                continue
            self.client.loop(timeout=0.05)
            if self.due() and self.clock() >= self.retry_at:
                try:
                    self.flush()
                    delay = 0.0
                except DatabaseError as error:
                    # The database is away: the batch stays unacknowledged and is tried again
                    # later, on a new connection; the loop keeps the broker's connection alive.
                    connection.close()
                    delay = retry_delay(delay)
                    self.retry_at = self.clock() + delay
                    logger.error("MQTT batch not stored, trying again in %.0f s: %s", delay, error)
        self.finish()

    def connect(self) -> None:
        """Connect, and subscribe; after a failure, wait, longer each time, and return."""
        delay = 0.0
        while not self.stopping and not self.connected:
            self.refusal = None
            try:
                self.client.reconnect()
                deadline = self.clock() + CONNECT_TIMEOUT
                while not (self.connected or self.refusal or self.stopping):
                    if self.client.loop(timeout=0.05) or self.clock() > deadline:
                        break
                if self.connected or self.stopping:
                    return
                problem = self.refusal or "no answer"
            except OSError as error:  # refused, unreachable, TLS: all worth another try
                problem = str(error) or type(error).__name__
            if problem in REFUSALS_TO_FIX:
                raise ConsumerStopped(
                    f"The broker {self.broker} refuses the consumer: {problem}. "
                    "Check the user and password in MQTT_URL."
                )
            delay = retry_delay(delay)
            logger.warning(
                "MQTT broker %s cannot be reached (%s): trying again in %.0f s",
                self.broker,
                problem,
                delay,
            )
            self.wait(delay)

    def wait(self, seconds: float) -> None:
        """Sleep, but return soon after stop()."""
        until = self.clock() + seconds
        while not self.stopping and self.clock() < until:
            self.sleep(min(0.1, until - self.clock()))

    def on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.refusal = str(reason_code)
            return
        self.connected = True
        session = "resumed" if flags.session_present else "new"
        logger.info("Connected to MQTT broker %s (%s session)", self.broker, session)
        client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in self.topics])

    def on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self.connected and not self.stopping:
            logger.warning("Disconnected from MQTT broker %s: %s", self.broker, reason_code)
        self.connected = False
        # Not committed, so not acknowledged: the broker sends them again in the session that
        # resumes, under the same packet ids, and an id acknowledged twice is one too many.
        self.pending.clear()
        self.first_at = None

    def on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        vendor = self.vendor_of(message.topic)
        try:
            if vendor is None:
                raise MalformedPush("no vendor publishes to this topic")
            reports = vendor_client(vendor).parse_push(bytes(message.payload))
        except MalformedPush as error:
            dropped(message.topic, message.mid, str(error))
            client.ack(message.mid, message.qos)
            return
        if not self.pending:
            self.first_at = self.clock()
            self.first_received_at = timezone.now()
        self.pending.append(Received(message.mid, message.qos, message.topic, vendor, reports))

    def vendor_of(self, topic: str) -> str | None:
        # Remembered: paho builds a matcher on each call, and a topic (a vendor's, or one of
        # its devices') comes back with every message.
        if topic not in self.vendors:
            self.vendors[topic] = next(
                (
                    vendor
                    for topic_filter, vendor in self.topics.items()
                    if mqtt.topic_matches_sub(topic_filter, topic)
                ),
                None,
            )
        return self.vendors[topic]

    def due(self) -> bool:
        if not self.pending:
            return False
        if len(self.pending) >= self.batch_messages:
            return True
        return self.first_at is not None and self.clock() - self.first_at >= self.batch_seconds

    def flush(self) -> None:
        """Store the messages in hand in one transaction, then acknowledge them."""
        if not self.pending:
            return
        batch = self.pending
        stored = store_batch(batch, self.first_received_at or timezone.now())
        self.pending = []
        self.first_at = None
        for message in batch:
            self.client.ack(message.mid, message.qos)
        self.stored = Stored(
            self.stored.messages + stored.messages,
            self.stored.new_rows + stored.new_rows,
            self.stored.refused + stored.refused,
        )

    def finish(self) -> None:
        """Store and acknowledge what is in hand, and leave the broker; the session stays."""
        if self.connected:
            try:
                self.flush()
            except DatabaseError as error:
                logger.error("MQTT batch not stored; the broker will send it again: %s", error)
            self.client.disconnect()
            deadline = self.clock() + 5.0
            while self.connected and self.clock() < deadline:
                if self.client.loop(timeout=0.05):
                    break
