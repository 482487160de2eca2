"""Vendors' pushes: POST /webhooks/<vendor>/, for each vendor whose webhook_secret is set.

No user signs in here: a push is the vendor's when its client's verify_push says so (by
default an HMAC-SHA256 of the raw body and a signed timestamp, keyed with the vendor's
webhook_secret: vendors/signing.py; a client whose vendor signs another way overrides it).
A delivery is told from another by its signature: the same one received again (a vendor's
retry, or a replay) is answered 200 and stores nothing (interactions.models.WebhookDelivery
says where deliveries are remembered, and why there).

Answers, in JSON, never a 500:
    200  {"devices": n, "new_rows": m}: stored, and committed before the answer
    200  {"devices": 0, "new_rows": 0, "delivered_already": true}: the same signature again
    400  a body the vendor's client cannot read (its parse_push)
    401  no signature (or no timestamp); 403 a wrong signature, a stale timestamp
    404  an unknown vendor, or one without a webhook_secret, or whose client reads no pushes
    405  anything but POST; 413 a Content-Length beyond WEBHOOK_MAX_BODY_BYTES, before reading
Refusals are logged once per vendor and reason per minute, counting those held back: a flood
of forged requests is a line a minute, not a line per request.

A push is stored before it is acknowledged, in one short transaction: a few rows, as a read of
the same devices would store (interactions.jobs.store_pushed), so a vendor that gets a 200 has
nothing to send again, and one that gets no answer sends again, which stores nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, IntegrityError, transaction
from django.http import HttpRequest, JsonResponse, UnreadablePostError
from django.views.decorators.csrf import csrf_exempt

from ..interactions.jobs import store_pushed
from ..interactions.models import WebhookDelivery
from ..vendors.base import MalformedPush, PushNotSupported, VendorClient
from ..vendors.registry import pushing_client
from ..vendors.signing import PushRefused

logger = logging.getLogger(__name__)

# A refusal of one vendor's pushes for one reason is logged at most once per this many seconds.
LOG_PERIOD = 60.0


class Refused(Exception):
    """A push refused; `reason` names the cause in the log, the message tells the sender."""

    def __init__(self, status: int, reason: str, message: str, challenge: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason
        # A 401's WWW-Authenticate: how the vendor is to sign.
        self.challenge = challenge


class RefusalLog:
    """Logs a refusal once per (vendor, reason) per period, with how many it held back since."""

    def __init__(self, period: float):
        self.period = period
        self._lock = threading.Lock()
        # (vendor, reason) -> (when last logged, refusals held back since); vendors are only
        # those with a secret and reasons a handful, so it stays small.
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}

    def refused(self, vendor: str, refusal: Refused) -> None:
        now = time.monotonic()
        key = (vendor, refusal.reason)
        with self._lock:
            logged_at, held_back = self._logged.get(key, (-self.period, 0))
            if now - logged_at < self.period:
                self._logged[key] = (logged_at, held_back + 1)
                return
            self._logged[key] = (now, 0)
        since = f" ({held_back} more since the last such line)" if held_back else ""
        logger.warning(
            "Webhook of vendor %s refused (%d): %s%s", vendor, refusal.status, refusal, since
        )


refusals = RefusalLog(LOG_PERIOD)


@csrf_exempt  # no cookie, no session: the signature is the credential
def receive(request: HttpRequest, vendor: str) -> JsonResponse:
    client = pushing_client(vendor)
    if client is None:
        return JsonResponse({"error": f"no webhook for vendor {vendor!r}"}, status=404)
    if request.method != "POST":
        response = JsonResponse({"error": f"{request.method} is not allowed: use POST"}, status=405)
        response["Allow"] = "POST"
        return response
    try:
        return JsonResponse(accept(request, vendor, client))
    except Refused as refusal:
        refusals.refused(vendor, refusal)
        response = JsonResponse({"error": str(refusal)}, status=refusal.status)
        # Logged above, once per period: not by Django too, which logs every 4xx it answers.
        response._has_been_logged = True  # type: ignore[attr-defined]
        if refusal.challenge:
            response["WWW-Authenticate"] = refusal.challenge
        return response


def accept(request: HttpRequest, vendor: str, client: VendorClient) -> dict:
    push = verified_push(request, client)
    try:
        reports = client.parse_push(push.body)
    except PushNotSupported as error:
        raise Refused(404, "not_supported", str(error)) from None
    except MalformedPush as error:
        raise Refused(400, "malformed", f"the body cannot be read: {error}") from None
    try:
        with transaction.atomic():
            if not remember(vendor, push.signature):
                return {"devices": 0, "new_rows": 0, "delivered_already": True}
            stored = store_pushed(vendor, reports)
    except (DataError, IntegrityError, OverflowError) as error:
        # A value or a time the database cannot hold: the push is the vendor's mistake, and
        # nothing of it was stored.
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise Refused(400, "not_storable", f"the readings cannot be stored: {message}") from None
    return {"devices": len(stored.refreshed), "new_rows": len(stored.new_keys)}


@dataclass(frozen=True)
class VerifiedPush:
    body: bytes
    signature: str


def verified_push(request: HttpRequest, client: VendorClient) -> VerifiedPush:
    """The raw body, once its size is checked and the client has verified it."""
    if content_length(request) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise too_large()
    try:
        body = request.body
    except RequestDataTooBig:  # beyond DATA_UPLOAD_MAX_MEMORY_SIZE too
        raise too_large() from None
    except UnreadablePostError:  # the sender went away before its body had arrived
        raise Refused(400, "unreadable", "the body did not arrive whole") from None
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise too_large()
    try:
        return VerifiedPush(body, client.verify_push(request.headers, body))
    except PushRefused as refusal:
        raise Refused(refusal.status, refusal.reason, str(refusal), refusal.challenge) from None


def remember(vendor: str, signature: str) -> bool:
    """Record a verified push's signature; False if it was recorded already. In the caller's
    transaction, which a concurrent delivery of the same signature waits for. Kept as a
    digest: the same length whatever a vendor's signature looks like."""
    digest = hashlib.sha256(signature.encode(errors="replace")).hexdigest()
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(vendor=vendor, signature=digest)
    except IntegrityError:
        return False
    return True


def content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def too_large() -> Refused:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    return Refused(413, "too_large", f"the body is larger than {limit:,} bytes")
