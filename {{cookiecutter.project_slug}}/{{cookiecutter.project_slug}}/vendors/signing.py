"""How a vendor signs what it pushes, as api/webhooks.py checks it and simulate_push signs it.

X-Webhook-Timestamp: 1767225600          when it was signed, in seconds since 1970
X-Webhook-Signature: sha256=<hex>        HMAC-SHA256, keyed with the vendor's webhook_secret,
                                         of the timestamp, a ".", and the raw body
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"
SCHEME = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Webhook-Signature of a body signed at `timestamp`."""
    message = timestamp.encode() + b"." + body
    return SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
