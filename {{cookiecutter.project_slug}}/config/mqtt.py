"""The MQTT broker, from MQTT_URL: `manage.py consume_mqtt` receives vendors' pushes from it,
and `manage.py simulate_push mqtt` publishes the simulated vendor's to it.

mqtt://user:password@host:1883 connects over plain TCP; mqtts://user:password@host:8883 over
TLS, checked against the system's certificate authorities, as hosted brokers require. The port
is 1883 or 8883 when the URL names none. The user and password are percent-decoded, so a
password with `@`, `:` or `/` in it is written with %40, %3A or %2F.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
EXAMPLE = "mqtts://user:password@broker.example.com:8883"


class BrokerURLError(ValueError):
    """MQTT_URL is not a broker's URL; the message says what is wrong, without the password."""


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool
    username: str | None = None
    # Kept out of repr, so that a logged or printed broker never shows it.
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def broker_from_url(url: str) -> Broker:
    """The broker MQTT_URL names, or BrokerURLError saying what is wrong with it."""
    if not url:
        raise BrokerURLError(f"MQTT_URL is not set: set it to the broker's URL, e.g. {EXAMPLE}.")
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise BrokerURLError(
            f"MQTT_URL must start with mqtt:// or mqtts:// (TLS), e.g. {EXAMPLE}; "
            f"it starts with {parts.scheme + '://' if parts.scheme else 'neither'}."
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or not parts.hostname:
        raise BrokerURLError(
            f"MQTT_URL names no host, or a port that is not a number from 1 to 65535: "
            f"write it as {EXAMPLE}."
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BrokerURLError(
            f"MQTT_URL has a path, a query or a fragment, which a broker's URL has not: "
            f"write it as {EXAMPLE}."
        )
    return Broker(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[parts.scheme],
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def new_client(broker: Broker, client_id: str = "", manual_ack: bool = False) -> mqtt.Client:
    """A paho client for the broker, speaking MQTT 5, with its credentials and TLS set; not
    connected yet."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set()
    return client
