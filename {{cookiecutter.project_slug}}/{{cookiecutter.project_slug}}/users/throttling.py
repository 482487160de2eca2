"""Sign-in throttling: after too many failed sign-ins, the next attempt is answered 429.

It covers every sign-in by password, because it sits in the authentication backend that checks
passwords: the API's token endpoint, the dashboard's sign-in page and the admin's. Before a
password is checked, the failures of the last SIGN_IN_THROTTLE["WINDOW_SECONDS"] are counted
for the client's address and for the username; at either limit the attempt is refused with
Retry-After, whether or not its password is right, so a blocked guesser learns nothing.

Failures are rows in the database, which every web process shares: a limit held in one
gunicorn worker's memory would let each worker, and each dyno, allow as many again.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework.exceptions import Throttled

from .models import SignInFailure, User


class TooManySignIns(Throttled):
    """Raised from authenticate(): a 429 with Retry-After from the API (DRF answers its own
    exceptions) and from the pages (SignInThrottleMiddleware)."""

    wait: int


def client_address(request: HttpRequest) -> str:
    """The address the request came from, as the proxies in front of the project saw it.

    Each of the FORWARDED_FOR_PROXIES proxies (Heroku's router: one) appends the address it
    was reached from to X-Forwarded-For, so the client's is that many entries from the end;
    entries before it are whatever the client wrote, and would let it pose as anyone. An IPv6
    client is counted by its /64 network, which one subscriber usually holds whole.
    """
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.FORWARDED_FOR_PROXIES
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [entry.strip() for entry in header.split(",") if entry.strip()]
    if proxies and len(forwarded) >= proxies:
        address = forwarded[-proxies]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def username_digest(username: str) -> str:
    # Only a digest is kept: people type passwords into the username box.
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()


def identify(request: HttpRequest | None, username: object) -> dict[str, str]:
    """What this attempt is counted by: SignInFailure's fields, empty when unknown."""
    return {
        "address": client_address(request) if request is not None else "",
        "username": username_digest(str(username)) if username else "",
    }


def window() -> timedelta:
    return timedelta(seconds=settings.SIGN_IN_THROTTLE["WINDOW_SECONDS"])


def retry_after(request: HttpRequest | None, username: object, now: datetime) -> float | None:
    """Seconds until this attempt would be allowed, or None if it is allowed now."""
    limits = {
        "address": settings.SIGN_IN_THROTTLE["FAILURES_PER_ADDRESS"],
        "username": settings.SIGN_IN_THROTTLE["FAILURES_PER_USERNAME"],
    }
    waits = []
    for field, value in identify(request, username).items():
        if not value:
            continue
        recent = SignInFailure.objects.filter(**{field: value, "failed_at__gt": now - window()})
        newest_first = recent.order_by("-failed_at").values_list("failed_at", flat=True)
        # When the limit-th most recent failure leaves the window, one attempt is free again.
        if blocking := newest_first[limits[field] - 1 : limits[field]]:
            waits.append((blocking[0] + window() - now).total_seconds())
    return max(waits, default=None)


def record_failure(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Receiver of user_login_failed: count the failure, and forget those out of the window."""
    now = timezone.now()
    username = credentials.get(get_user_model().USERNAME_FIELD)
    SignInFailure.objects.create(failed_at=now, **identify(request, username))
    SignInFailure.objects.filter(failed_at__lte=now - window()).delete()


class ThrottledModelBackend(ModelBackend):
    """Django's backend, refusing to check a password once the client's address or the
    username has failed too often."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        wait = retry_after(request, username, timezone.now())
        if wait is not None:
            raise TooManySignIns(wait=max(wait, 1), detail="Too many failed sign-ins.")
        return super().authenticate(request, username, password, **kwargs)


class SignInThrottleMiddleware:
    """Answer a throttled sign-in on a page (not the API, which DRF answers) with a 429."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, TooManySignIns):
            return None
        return HttpResponse(
            str(exception.detail),
            status=exception.status_code,
            content_type="text/plain; charset=utf-8",
            headers={"Retry-After": str(exception.wait)},
        )
