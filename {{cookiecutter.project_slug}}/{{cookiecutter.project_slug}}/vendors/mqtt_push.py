"""Publishing pushes to the MQTT broker at QoS 1, as a vendor that pushes over MQTT does:
`manage.py simulate_push mqtt`, for the demo, the tests and the benchmark."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from config.mqtt import Broker, new_client

# Seconds to wait for the broker to take the connection, and then each message.
CONNECT_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 30.0
# Messages waiting for the broker's acknowledgement at a time: fewer than the 65,535 packet ids.
IN_FLIGHT = 10_000


class PublishFailed(Exception):
    """The broker could not be reached, or did not take every message; one line."""


def publish(broker: Broker, topic: str, bodies: Iterable[bytes]) -> int:
    """Publish each body to `topic` at QoS 1; return how many the broker acknowledged, which
    is all of them, or raise PublishFailed."""
    connected = threading.Event()
    refusal: list[str] = []

    def on_connect(
        client: mqtt.Client, userdata: object, flags: object, reason_code: object, props: object
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            refusal.append(str(reason_code))
        connected.set()

    # A client id of its own, so that it never takes over the consumer's session.
    client = new_client(broker, client_id=f"publisher-{uuid.uuid4().hex[:12]}")
    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=60)
    except OSError as error:
        raise PublishFailed(f"the MQTT broker {broker} cannot be reached: {error}") from None
    client.loop_start()
    try:
        if not connected.wait(CONNECT_TIMEOUT) or refusal:
            why = refusal[0] if refusal else "no answer"
            raise PublishFailed(f"the MQTT broker {broker} refused the connection: {why}")
        published = 0
        remaining = iter(bodies)
        while chunk := list(itertools.islice(remaining, IN_FLIGHT)):
            sent = [client.publish(topic, body, qos=1) for body in chunk]
            for info in sent:
                info.wait_for_publish(PUBLISH_TIMEOUT)
                if not info.is_published():
                    raise PublishFailed(
                        f"the MQTT broker {broker} did not acknowledge message {info.mid}: "
                        f"{mqtt.error_string(info.rc)}"
                    )
            published += len(sent)
        return published
    finally:
        client.disconnect()
        client.loop_stop()
