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
reading is stored once.

Batches are read and stored by a process of its own (StoringProcess), while the consumer's
process receives the next one: Python runs one thread at a time, and receiving alone keeps one
busy. The broker sends up to two batches of unacknowledged messages (the session's Receive
Maximum), one being stored and one filling. Acknowledgements are sent by the consumer's process,
which holds the connection, and only on the connection that received their messages: after a
reconnection, the broker sends the messages again itself, under the same packet ids.

A message no vendor's client can read (MalformedPush), or whose readings the database refuses,
is logged once and acknowledged with its batch: sending it again would not make it readable,
and it must not hold up the messages behind it. Each committed batch leaves a JobRun of
`consume_mqtt`, the heartbeat health reads (mqtt_problems): a consumer that received messages
and then receives none for MQTT_SILENT_AFTER_SECONDS raises an alert.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, connections, transaction
from django.db.models import Max
from django.utils import timezone
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from config.mqtt import Broker

from ..counts import Counts
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
# Seconds the storing process has to finish its batch once the consumer stops.
STORING_TIMEOUT = 30.0
# Unreadable: a body the client cannot parse; refused: readings the database cannot hold.
UNSTORABLE = (DataError, IntegrityError, OverflowError)


class ConsumerStopped(Exception):
    """The consumer cannot go on (the broker refuses it for a reason only its settings can fix,
    or its storing process has died): one line."""


class BatchNotStored(Exception):
    """The database did not take a batch: it stays unacknowledged, to be tried again."""


@dataclass(frozen=True)
class Received:
    """A message from a vendor's topic, waiting for its batch to be committed before it is
    acknowledged."""

    mid: int
    qos: int
    topic: str
    vendor: str
    payload: bytes


@dataclass(frozen=True)
class Stored(Counts):
    messages: int
    new_rows: int
    refused: int  # messages not stored, unreadable or refused by the database; acknowledged


@dataclass(frozen=True)
class InFlight:
    """A batch being stored, and the connection that received it."""

    batch: list[Received]
    received_at: datetime  # when its first message was
    connection: int


def subscriptions() -> dict[str, str]:
    """Topic filter -> vendor, for each vendor whose client declares an mqtt_topic."""
    topics = {}
    for vendor in settings.VENDORS:
        topic = getattr(vendor_client(vendor), "mqtt_topic", "")
        if topic:
            topics[topic] = vendor
    return topics


def is_topic_filter(topic: str) -> bool:
    """Whether a broker takes `topic` as a filter to subscribe to: '+' stands for one whole
    level, '#' for the whole of the last one."""
    levels = topic.split("/")
    return (
        "\0" not in topic
        and all(level in ("+", "#") or not {"+", "#"} & set(level) for level in levels)
        and "#" not in levels[:-1]
    )


def retry_delay(previous: float) -> float:
    return min(LAST_RETRY, max(FIRST_RETRY, 2 * previous)) * random.uniform(0.8, 1.0)


@dataclass(frozen=True)
class Read:
    """A message, and the reports its vendor's client read in it."""

    message: Received
    reports: list[DeviceReport]


def store_batch(batch: list[Received], started_at: datetime) -> Stored:
    """Read the batch's messages and store their readings in one transaction with its JobRun. A
    message its vendor's client cannot read is logged and left out; one whose readings the
    database refuses is found by storing the others one by one, and logged."""
    read = []
    for message in batch:
        try:
            read.append(Read(message, vendor_client(message.vendor).parse_push(message.payload)))
        except MalformedPush as error:
            dropped(message.topic, message.mid, str(error))
    unreadable = len(batch) - len(read)
    try:
        with transaction.atomic():
            new_rows = _store(read)
            _record(batch, new_rows, started_at)
        return Stored(len(batch), new_rows, refused=unreadable)
    except UNSTORABLE:
        pass
    new_rows = refused = 0
    for one in read:
        try:
            with transaction.atomic():
                new_rows += _store([one])
        except UNSTORABLE as error:
            refused += 1
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            why = f"the readings cannot be stored: {first_line}"
            dropped(one.message.topic, one.message.mid, why)
    with transaction.atomic():
        _record(batch, new_rows, started_at)
    return Stored(len(batch), new_rows, unreadable + refused)


def _store(read: list[Read]) -> int:
    by_vendor: dict[str, list[DeviceReport]] = defaultdict(list)
    for one in read:
        by_vendor[one.message.vendor] += one.reports
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


def stored_or_why_not(batch: list[Received], started_at: datetime) -> Stored | BatchNotStored:
    """store_batch's answer; a database that did not take the batch is an answer too."""
    try:
        return store_batch(batch, started_at)
    except DatabaseError as error:
        return BatchNotStored(str(error).strip() or type(error).__name__)


class Storer(Protocol):
    """Stores the batches it is sent, one at a time, and answers each."""

    def send(self, batch: list[Received], started_at: datetime) -> None: ...

    def answered(self) -> bool: ...

    def answer(self) -> Stored:
        """The answer to the batch sent last, once it comes; BatchNotStored when the database
        did not take it."""
        ...

    def close(self) -> None: ...


class StoringProcess:
    """A process of its own that reads and stores each batch it is sent, while the consumer's
    process receives the next one. Forked before the consumer connects, so it holds no part of
    the broker's connection; it stops when the consumer closes the pipe (or dies), not on a
    signal: Heroku's SIGTERM and a terminal's Ctrl+C reach every process of the dyno or the
    terminal, and the consumer decides what is left to store."""

    def __init__(self) -> None:
        # The forked process must not share a database connection with this one.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        self.pipe, their_end = context.Pipe()
        self.process = context.Process(
            target=serve_batches, args=(their_end, self.pipe), name="mqtt-storing"
        )
        self.process.start()
        their_end.close()
        # Its first word: it ignores signals from now on.
        self.answer_or_death()

    def answer_or_death(self) -> Any:
        try:
            return self.pipe.recv()
        except (EOFError, OSError):
            raise self.died() from None

    def send(self, batch: list[Received], started_at: datetime) -> None:
        try:
            self.pipe.send((batch, started_at))
        except OSError:
            raise self.died() from None

    def answered(self) -> bool:
        return self.pipe.poll()

    def answer(self) -> Stored:
        answer = self.answer_or_death()
        if isinstance(answer, BatchNotStored):
            raise answer
        return answer

    def died(self) -> ConsumerStopped:
        self.process.join(timeout=5)
        return ConsumerStopped(
            f"The storing process stopped (exit code {self.process.exitcode}): the broker "
            "sends what it had not stored again when the consumer starts again."
        )

    def close(self) -> None:
        if self.pipe.closed:
            return
        self.pipe.close()
        self.process.join(timeout=STORING_TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def serve_batches(batches: Connection, consumers_end: Connection) -> None:
    """The storing process: store each batch that comes, answer, until the pipe closes."""
    consumers_end.close()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    batches.send("ready")
    try:
        while True:
            try:
                batch, started_at = batches.recv()
            except EOFError:
                return
            answer = stored_or_why_not(batch, started_at)
            if isinstance(answer, BatchNotStored):
                connection.close()  # the next batch opens a new one
            batches.send(answer)
    finally:
        connection.close()


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
        storer: Storer,
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
        self.storer = storer
        self.in_flight: InFlight | None = None
        self.connected = False
        # Counts the connections that ended: a batch is acknowledged only on its own.
        self.connection = 0
        self.refusal: str | None = None
        self.stopping = False
        self.retry_at = 0.0
        self.stored = Stored(0, 0, 0)
        client.on_connect = self.on_connect
        client.on_disconnect = self.on_disconnect
        client.on_message = self.on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = session_expiry
        # The most messages the broker sends before they are acknowledged: a batch being
        # stored and the next one, filling meanwhile.
        properties.ReceiveMaximum = min(2 * batch_messages, 65535)
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
            # While a batch is stored, the loop looks at it more often than it waits for the
            # broker, to acknowledge it soon after its commit.
            received = len(self.pending)
            self.client.loop(timeout=0.005 if self.in_flight else 0.05)
            # Whether the batch is stored is asked when it matters: once the next batch is due,
            # or no message came. Not after every message: each asking is a system call.
            asking = self.due() or len(self.pending) == received
            if self.in_flight and asking and self.storer.answered():
                try:
                    self.acknowledge()
                    delay = 0.0
                except BatchNotStored as error:
                    # The database is away: the batch stays unacknowledged and is tried again
                    # later; the loop keeps the broker's connection alive meanwhile.
                    delay = retry_delay(delay)
                    self.retry_at = self.clock() + delay
                    logger.error("MQTT batch not stored, trying again in %.0f s: %s", delay, error)
            if not self.in_flight and self.due() and self.clock() >= self.retry_at:
                self.store_in_hand()
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
        self.connection += 1
        # Not committed, so not acknowledged: the broker sends them again in the session that
        # resumes, under the same packet ids, and an id acknowledged twice is one too many.
        # (So is the batch being stored: it is not acknowledged on the next connection.)
        self.pending.clear()
        self.first_at = None

    def on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        vendor = self.vendor_of(message.topic)
        if vendor is None:
            dropped(message.topic, message.mid, "no vendor publishes to this topic")
            client.ack(message.mid, message.qos)
            return
        if not self.pending:
            self.first_at = self.clock()
            self.first_received_at = timezone.now()
        payload = bytes(message.payload)
        self.pending.append(Received(message.mid, message.qos, message.topic, vendor, payload))

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

    def take(self) -> tuple[list[Received], datetime]:
        """The messages in hand, and when the first of them was received; none are left."""
        batch, started_at = self.pending, self.first_received_at or timezone.now()
        self.pending = []
        self.first_at = None
        return batch, started_at

    def store_in_hand(self) -> None:
        """Send the messages in hand to be stored."""
        batch, received_at = self.take()
        self.storer.send(batch, received_at)
        self.in_flight = InFlight(batch, received_at, self.connection)

    def acknowledge(self) -> None:
        """Wait for the batch in flight to be stored, and acknowledge it on the connection that
        received it. A batch the database did not take raises BatchNotStored, back in hand to
        be tried again."""
        in_flight, self.in_flight = self.in_flight, None
        if in_flight is None:
            return
        try:
            stored = self.storer.answer()
        except BatchNotStored:
            if in_flight.connection == self.connection:
                self.pending[:0] = in_flight.batch
                self.first_at = self.first_at or self.clock()
                self.first_received_at = in_flight.received_at
            raise
        self.stored += stored
        if in_flight.connection == self.connection:
            for message in in_flight.batch:
                self.client.ack(message.mid, message.qos)

    def flush(self) -> None:
        """Store the messages in hand in one transaction, then acknowledge them."""
        if self.pending:
            self.store_in_hand()
            self.acknowledge()

    def finish(self) -> None:
        """Store and acknowledge what is in hand, and leave the broker; the session stays."""
        try:
            self.acknowledge()
            if self.connected:
                self.flush()
        except BatchNotStored as error:
            logger.error("MQTT batch not stored; the broker will send it again: %s", error)
        self.storer.close()
        if self.connected:
            self.client.disconnect()
            deadline = self.clock() + 5.0
            while self.connected and self.clock() < deadline:
                if self.client.loop(timeout=0.05):
                    break
