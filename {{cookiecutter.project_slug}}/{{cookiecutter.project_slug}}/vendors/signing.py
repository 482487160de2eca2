"""How a push is shown to be its vendor's: what a client's verify_push raises when it is not,
and the project's own signing scheme, which VendorClient.verify_push checks unless a client
signs another way (the simulated vendor and simulate_push use it):

X-Webhook-Timestamp: 1767225600          when it was signed, in seconds since 1970
X-Webhook-Signature: sha256=<hex>        HMAC-SHA256, keyed with the vendor's webhook_secret,
                                         of the timestamp, a ".", and the raw body

The timestamp is signed with the body, so a captured push cannot be made fresh again: one
signed more than WEBHOOK_REPLAY_WINDOW_SECONDS ago (or ahead) is stale, and within the window
the same signature twice is one delivery, stored once (api/webhooks.py).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from django.conf import settings

TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"
SCHEME = "sha256="


class PushRefused(Exception):
    """A push not shown to be the vendor's; the message tells the sender why. Answered with
    `status`; `reason` names the kind in the log."""

    status = 403
    reason = "refused"
    # A 401's WWW-Authenticate: how the vendor is to sign (UnsignedPush's alone).
    challenge = ""


class UnsignedPush(PushRefused):
    """A push without the headers its vendor's scheme signs with."""

    status = 401
    reason = "unsigned"

    def __init__(self, *headers: str, scheme: str = "HMAC-SHA256"):
        names = " and ".join(headers)
        super().__init__(f"send the {names} header" + ("s" if len(headers) > 1 else ""))
        # The scheme, and the header that carries the signature.
        self.challenge = f'{scheme} header="{headers[-1]}"'


class ForgedPush(PushRefused):
    """A push whose signature does not match its body."""

    reason = "mis-signed"


class StalePush(PushRefused):
    """A push signed too long ago, or ahead: a captured one sent again."""

    reason = "stale"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Webhook-Signature of a body signed at `timestamp`."""
    message = timestamp.encode() + b"." + body
    return SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def matches(signature: str, expected: str) -> bool:
    """Whether a signature sent is the one expected, in constant time: a near miss takes as
    long as a wild guess. Compared as bytes, because compare_digest refuses a str with
    characters beyond ASCII, which a forger may well send."""
    return hmac.compare_digest(signature.encode(errors="replace"), expected.encode())


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> str:
    """The signature of a push signed with this project's scheme, once checked; else
    UnsignedPush, ForgedPush or StalePush."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not timestamp or not signature:
        raise UnsignedPush(TIMESTAMP_HEADER, SIGNATURE_HEADER)
    if not matches(signature, sign(secret, timestamp, body)):
        raise ForgedPush(f"{SIGNATURE_HEADER} does not match the body")
    if not fresh(timestamp):
        window = settings.WEBHOOK_REPLAY_WINDOW_SECONDS
        raise StalePush(f"{TIMESTAMP_HEADER} is more than {window} s from now")
    return signature


def fresh(timestamp: str) -> bool:
    # Digits only, and few of them: int() would also read " 17 " or "1_700", and take long
    # over thousands of digits.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    return abs(time.time() - int(timestamp)) <= settings.WEBHOOK_REPLAY_WINDOW_SECONDS
