"""Fake Cloud: a device cloud on loopback HTTP that differs from the baked example API the way
real ones do, and counts every request it receives.

Its API, modelled on the consumer clouds teams meet at hackathons:

    POST /devices/list          key=K             -> {"isok": true, "data": {"devices": {"<id>":
                                                        {"name", "model", "relays", "sensors"}}}}
    POST /device/status         key=K, id=I       -> {"isok": true, "data": {"online": bool,
                                                        "device_status": {"updated", "relays",
                                                        "sensors"}}}
    POST /device/relay/control  key=K, id=I,      -> {"isok": true}
                                turn=on|off

Bodies are forms, the key travels in them, and every answer is HTTP 200, errors included:
{"isok": false, "errors": {"<code>": "<text>"}}, with the codes "key" (wrong key),
"device_not_found", "no_relay" (a sensor), "bad_request" and "max_req" (over the rate limit).
One device per status call. A switch answers before it happens: the relay turns
`switch_delay` seconds later and only a later status shows it. "updated" is a Unix timestamp;
temperatures are in tenths of a degree Celsius, humidity in percent.

It also pushes a device's status to a webhook, signed its own way: no timestamp, an
HMAC-SHA256 of the body alone, in base64.

    POST <webhook>  {"event": "status", "id": I, "data": <a status answer's data>}
                    X-Fake-Signature: <base64 of HMAC-SHA256(secret, body)>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

# A vendor counts requests as they arrive, after a network that may bunch up two calls a client
# sent a second apart; like real ones, it forgives a request this much early.
JITTER_SECONDS = 0.05


@dataclass
class FakeDevice:
    name: str
    model: str
    # None: the device has no relay (a sensor), so it cannot be switched.
    relay_on: bool | None
    sensors: dict[str, int] = field(default_factory=dict)
    online: bool = True
    updated: float = field(default_factory=time.time)


def standard_devices() -> dict[str, FakeDevice]:
    """A plug that is on, a plug that is off, a humidity sensor, and a plug that is offline."""
    an_hour_ago = time.time() - 3600
    return {
        "plug-a1": FakeDevice("Kitchen plug", "plug-s", True, {"temperature": 215}),
        "plug-b2": FakeDevice("Heater plug", "plug-s", False, {"temperature": 198}),
        "ht-c3": FakeDevice("Cellar sensor", "ht", None, {"temperature": 124, "humidity": 71}),
        "plug-d4": FakeDevice("Garage plug", "plug-s", False, {}, False, an_hour_ago),
    }


class FakeCloud:
    """The cloud's accounts, devices and rate limit, with the counters a test reads."""

    def __init__(
        self,
        key: str = "fake-cloud-key",
        max_requests_per_second: int = 1,
        switch_delay: float = 0.5,
        devices: dict[str, FakeDevice] | None = None,
    ):
        self.key = key
        self.max_requests_per_second = max_requests_per_second
        self.switch_delay = switch_delay
        self.devices = standard_devices() if devices is None else devices
        self.requests: Counter[str] = Counter()
        self.refused = 0
        self.max_in_one_second = 0
        self._accepted: deque[float] = deque()
        self._arrived: deque[float] = deque()
        self._lock = threading.Lock()

    def answer(self, path: str, form: dict[str, str]) -> dict:
        """The body of the answer to one request, which arrives now."""
        if not self._admit(path):
            return refusal("max_req", "Request limit reached!")
        if form.get("key") != self.key:
            return refusal("key", "invalid")
        endpoints = {
            "/devices/list": self._list,
            "/device/status": self._status,
            "/device/relay/control": self._control,
        }
        if path not in endpoints:
            return refusal("bad_request", f"no endpoint {path}")
        return endpoints[path](form)

    def _admit(self, path: str) -> bool:
        """Count a request; whether it is within the rate limit."""
        now = time.monotonic()
        window = 1 - JITTER_SECONDS
        with self._lock:
            self.requests[path] += 1
            for moments in (self._arrived, self._accepted):
                while moments and moments[0] <= now - window:
                    moments.popleft()
            self._arrived.append(now)
            self.max_in_one_second = max(self.max_in_one_second, len(self._arrived))
            if len(self._accepted) >= self.max_requests_per_second:
                self.refused += 1
                return False
            self._accepted.append(now)
            return True

    def _list(self, form: dict[str, str]) -> dict:
        devices = {
            device_id: {
                "name": device.name,
                "model": device.model,
                "relays": 0 if device.relay_on is None else 1,
                "sensors": sorted(device.sensors),
            }
            for device_id, device in self.devices.items()
        }
        return {"isok": True, "data": {"devices": devices}}

    def _status(self, form: dict[str, str]) -> dict:
        device = self.devices.get(form.get("id", ""))
        if device is None:
            return refusal("device_not_found", "Device not found!")
        relays = [] if device.relay_on is None else [{"ison": device.relay_on}]
        status = {"updated": int(device.updated), "relays": relays, "sensors": device.sensors}
        return {"isok": True, "data": {"online": device.online, "device_status": status}}

    def _control(self, form: dict[str, str]) -> dict:
        device = self.devices.get(form.get("id", ""))
        if device is None:
            return refusal("device_not_found", "Device not found!")
        if device.relay_on is None:
            return refusal("no_relay", "This device has no relay")
        if form.get("turn") not in ("on", "off"):
            return refusal("bad_request", "turn must be on or off")
        timer = threading.Timer(self.switch_delay, self._switch, (device, form["turn"] == "on"))
        timer.daemon = True
        timer.start()
        return {"isok": True}

    def push_body(self, device_id: str) -> bytes:
        """What the cloud pushes of a device's status now."""
        data = self._status({"id": device_id})["data"]
        return json.dumps({"event": "status", "id": device_id, "data": data}).encode()

    @staticmethod
    def push(url: str, secret: str, body: bytes) -> tuple[int, dict]:
        """Post a push to a webhook, signed; the answer's status and JSON body."""
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        headers = {"Content-Type": "application/json", "X-Fake-Signature": signature.decode()}
        request = urllib.request.Request(url, body, headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def _switch(self, device: FakeDevice, is_on: bool) -> None:
        with self._lock:
            device.relay_on = is_on
            device.updated = time.time()


def refusal(code: str, text: str) -> dict:
    return {"isok": False, "errors": {code: text}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {name: values[-1] for name, values in parse_qs(body).items()}
        self._reply(self.server.cloud.answer(self.path, form))

    def do_GET(self) -> None:
        self._reply(refusal("bad_request", "use POST"))

    def _reply(self, answer: dict) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the counters say what was asked."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    cloud: FakeCloud


@contextmanager
def serving(cloud: FakeCloud) -> Iterator[str]:
    """The cloud answering on a free loopback port until the block ends; yields its URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.cloud = cloud
    # A short poll: shutdown() waits for it.
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
