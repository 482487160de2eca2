"""The `mqtt` part of `make bench`: readings per second that `manage.py consume_mqtt` stores
from a backlog on the broker, against a bare paho-mqtt subscriber that merely receives the same
messages from the same broker in the same run.

Run alone: `python -m bench.mqtt` (bakes the heroku-scheduler variant with MQTT; needs
PostgreSQL on 127.0.0.1 and the mosquitto executable). A Mosquitto of the run's own, on a free
port, keeps every message for a session that is away. Each side first opens its persistent
session (QoS 1 subscription, clean_start off), leaves, and has MESSAGES messages published to
it at QoS 1 meanwhile: one device and one reading period each, two new readings, as a vendor
that publishes per device sends them. Then it comes back and drains the backlog:

- the reference, a paho-mqtt client in the baked project's Python that counts the messages and
  lets paho acknowledge each as it arrives (MQTT's QoS 1 at its cheapest): from its first
  message to its last;
- consume_mqtt as the Procfile starts it, on production settings, with its shipped batches:
  each message parsed by the vendor's client, stored through observations.ingest,
  acknowledged after its batch's commit; from the start of its first batch to the commit of
  its last (its JobRun rows), process start-up left out as it is from the reference.

Both figures are readings per second (two per message), medians of RUNS runs, each on a fresh
database.
"""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from .__main__ import RUNS, Project
from .common import environment, say
from .webhooks import PRODUCTION, push_bodies

MESSAGES = 100_000
READINGS_PER_MESSAGE = 2
TARGET = 0.5
TOPIC = "bench/pushes"
SESSION_EXPIRY = 600

# Run with the baked project's Python: publish the lines of a file at QoS 1 with the
# project's own publisher (simulate_push mqtt's), which returns once the broker has
# acknowledged every one.
PUBLISHER = """
import sys
from config.mqtt import Broker
from iot_monitor.vendors.mqtt_push import publish
port, topic, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bodies = (line.rstrip(b"\\n") for line in open(path, "rb"))
publish(Broker("127.0.0.1", port, tls=False), topic, bodies)
"""

# The reference: open a persistent session (`subscribe`), or drain it (`receive COUNT`) and
# print the seconds from the first message to the last.
BARE_SUBSCRIBER = """
import json, sys, time, paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
port, topic, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
expected = int(sys.argv[4]) if mode == "receive" else 0
times = []
client = mqtt.Client(
    mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5
)
client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
client.on_subscribe = lambda c, u, mid, rcs, p: times.append(None) if mode == "subscribe" else 0
client.on_message = lambda c, u, message: times.append(time.perf_counter())
properties = Properties(PacketTypes.CONNECT)
properties.SessionExpiryInterval = %(expiry)d
properties.ReceiveMaximum = %(receive_maximum)d
client.connect("127.0.0.1", port, clean_start=False, properties=properties)
while len(times) < max(expected, 1):
    client.loop(timeout=1.0)
client.disconnect()
client.loop(timeout=1.0)
if mode == "receive":
    print(json.dumps({"messages": len(times), "seconds": times[-1] - times[0]}))
"""


class Mosquitto:
    """A mosquitto of the run's own on a free port, queueing without limit."""

    def __init__(self, directory: Path):
        if shutil.which("mosquitto") is None:
            raise SystemExit("mosquitto is not installed: apt-get install mosquitto")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
        )
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def python(project: Project, script: str, *arguments: str) -> str:
    result = subprocess.run(
        [str(project.python), "-c", script, *arguments],
        cwd=project.root,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{result.stdout}\n{result.stderr}")
    return result.stdout


def publish(project: Project, port: int, topic: str, bodies_file: Path) -> None:
    python(project, PUBLISHER, str(port), topic, str(bodies_file))


def bare_subscriber(project: Project, port: int, topic: str, bodies_file: Path) -> float:
    """Readings per second the bare subscriber receives from its backlog."""
    script = BARE_SUBSCRIBER % {"expiry": SESSION_EXPIRY, "receive_maximum": 500}
    python(project, script, str(port), topic, "subscribe")
    publish(project, port, topic, bodies_file)
    result = json.loads(python(project, script, str(port), topic, "receive", str(MESSAGES)))
    if result["messages"] != MESSAGES:
        raise RuntimeError(f"the bare subscriber received {result['messages']} of {MESSAGES}")
    return MESSAGES * READINGS_PER_MESSAGE / result["seconds"]


def consumer(project: Project, database_url: str, variables: dict[str, str]) -> subprocess.Popen:
    log = (project.root / "consume_mqtt.log").open("a")
    return subprocess.Popen(
        [str(project.python), "manage.py", "consume_mqtt"],
        cwd=project.root,
        env=environment(DATABASE_URL=database_url, **variables),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def consume_mqtt(project: Project, port: int, bodies_file: Path, database_url: str) -> float:
    """Readings per second consume_mqtt stores from its backlog."""
    # Production settings, as the Procfile's mqtt dyno runs: DEBUG off.
    variables = PRODUCTION | {
        "MQTT_URL": f"mqtt://127.0.0.1:{port}",
        "MQTT_CLIENT_ID": "bench-consumer",
        "MQTT_SESSION_EXPIRY_SECONDS": str(SESSION_EXPIRY),
        "SIMULATOR_MQTT_TOPIC": TOPIC,
    }
    log = project.root / "consume_mqtt.log"
    log.write_text("")
    # Its session first: the backlog is kept for it from then on.
    opening = consumer(project, database_url, variables)
    while "Connected to MQTT broker" not in log.read_text():
        if opening.poll() is not None:
            raise RuntimeError(f"consume_mqtt stopped:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    opening.terminate()
    opening.wait(timeout=30)
    publish(project, port, TOPIC, bodies_file)
    expected = MESSAGES * READINGS_PER_MESSAGE
    draining = consumer(project, database_url, variables)
    try:
        with psycopg.connect(database_url, autocommit=True) as connection:
            count = "SELECT count(*) FROM observations_attribute"
            deadline = time.monotonic() + 600
            while connection.execute(count).fetchone()[0] < expected:
                if draining.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"consume_mqtt did not store the backlog:\n"
                                       f"{log.read_text()[-2000:]}")  # fmt: skip
                time.sleep(0.2)
            first, last = connection.execute(
                "SELECT min(started_at), max(finished_at) FROM interactions_jobrun "
                "WHERE name = 'consume_mqtt'"
            ).fetchone()
    finally:
        draining.terminate()
        draining.wait(timeout=30)
    return expected / (last - first).total_seconds()


def measure() -> dict:
    """Figures of consume_mqtt against the bare subscriber, for the bench's table."""
    say(f"mqtt: a backlog of {MESSAGES:,} messages at QoS 1, consume_mqtt and a bare subscriber")
    project = Project("mqtt", scheduler="heroku-scheduler", use_mqtt="yes")
    directory = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker = Mosquitto(directory)
    bares, storeds = [], []
    try:
        bodies_file = directory / "bodies.jsonl"
        bodies_file.write_bytes(b"\n".join(push_bodies(MESSAGES)) + b"\n")
        for attempt in range(RUNS):
            database_url = project.fresh_database("mqtt")
            project.manage(database_url, "seed_demo", "--devices", "100", "--history-days", "0")
            bares.append(bare_subscriber(project, broker.port, "bench/bare", bodies_file))
            storeds.append(consume_mqtt(project, broker.port, bodies_file, database_url))
            say(
                f"  run {attempt + 1}/{RUNS}: consume_mqtt {storeds[-1]:,.0f} readings/s, "
                f"bare subscriber {bares[-1]:,.0f} readings/s"
            )
    finally:
        broker.stop()
        project.drop_databases()
        shutil.rmtree(directory, ignore_errors=True)
    stored, bare = statistics.median(storeds), statistics.median(bares)
    figures = {"mqtt_consumer_readings_per_s": stored, "mqtt_bare_readings_per_s": bare}
    say(
        f"  consume_mqtt {stored:,.0f} readings/s, bare subscriber {bare:,.0f} readings/s: "
        f"{stored / bare:.2f}x (target >= {TARGET}x)"
    )
    return figures


def main() -> None:
    print(json.dumps(measure(), indent=2))


if __name__ == "__main__":
    main()
