"""Per-vendor limits on calls: how many may be in flight at once, and how many may start a second.

A vendor's entry in settings.VENDORS may set `max_calls_at_once` and `max_requests_per_second`
among its options (missing or 0: no limit). Each call to the vendor runs inside
`limiter_for(vendor).call()`, which waits until one more call is allowed and holds its place
until the call returns: each HTTP request of an HTTP client, an auth flow's included
(http.WithinLimits), each call of the simulated vendor.

The rate is kept by spacing the starts of calls at least 1/rate seconds apart, rather than by
counting calls per second: a count lets a burst at the end of one second meet a burst at the
start of the next, so that a vendor allowing 1 request a second would see 2 within a few
milliseconds. Spaced starts never put more than the rate into any window of one second.
{%- if cookiecutter.scheduler == "celery-beat" %}

With REDIS_URL set, the limits hold across every process of the project (web, workers, beat,
management commands) through Redis (vendors/redis_limits.py): a vendor allowing 1 request a
second never sees 2, however many workers run. Without it, tasks run in this process, and so do
the limits.
{%- else %}

Each job runs in a process of its own (`manage.py run_job`), and the limits hold across the
threads of the process; a command sent from the web meanwhile keeps them within the web process.
{%- endif %}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .base import ConfigurationError

# The options of a vendor's entry that are the limiter's, not its client's.
LIMIT_OPTIONS = ("max_calls_at_once", "max_requests_per_second")


def client_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a vendor's entry that its client is built with: all but the limiter's."""
    return {option: value for option, value in options.items() if option not in LIMIT_OPTIONS}


@dataclass(frozen=True)
class Limits:
    calls_at_once: int = 0  # calls in flight at once (0: no limit)
    requests_per_second: float = 0.0  # calls started per second (0: no limit)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Limits:
        return cls(
            calls_at_once=int(options.get("max_calls_at_once") or 0),
            requests_per_second=float(options.get("max_requests_per_second") or 0),
        )

    @property
    def start_interval(self) -> float:
        """The least time between the starts of two calls, in seconds."""
        return 1 / self.requests_per_second if self.requests_per_second > 0 else 0.0

    def __bool__(self) -> bool:
        return self.calls_at_once > 0 or self.requests_per_second > 0


class Limiter:
    """No limit: calls go straight through."""

    limits = Limits()

    def call(self) -> AbstractContextManager[None]:
        """Wait until one more call is allowed; hold its place for the duration of the block."""
        return nullcontext()


class LocalLimiter(Limiter):
    """The limits across the threads of this process."""

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limits = limits
        self._slots = (
            threading.BoundedSemaphore(limits.calls_at_once) if limits.calls_at_once else None
        )
        self._clock, self._sleep = clock, sleep
        self._start_lock = threading.Lock()
        self._next_start = 0.0  # the clock's time before which no call may start

    @contextmanager
    def call(self) -> Iterator[None]:
        # A place first, then a start: a start reserved while waiting for a place would come
        # due while the call still waits, and the next call's start would follow it too closely.
        with self.place():
            self.wait_for_start()
            yield

    def place(self) -> AbstractContextManager[object]:
        """Hold one of this process's places for calls in flight, once one is free."""
        return self._slots or nullcontext()

    def wait_for_start(self) -> None:
        """Wait for the earliest start the rate allows, and reserve it."""
        self._sleep(self._reserve_start())

    def _reserve_start(self) -> float:
        """Reserve the earliest start the rate allows; return the seconds until it."""
        if not self.limits.start_interval:
            return 0.0
        with self._start_lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self.limits.start_interval
        return start - now


_limiters: dict[str, Limiter] = {}
_lock = threading.Lock()
# The settings the limiters are built from.
LIMITER_SETTINGS = frozenset({"VENDORS"{% if cookiecutter.scheduler == "celery-beat" %}, "REDIS_URL"{% endif %}})


def limiter_for(vendor: str) -> Limiter:
    """This process's limiter for a vendor, from the options of its entry in settings.VENDORS."""
    with _lock:
        if vendor not in _limiters:
            _limiters[vendor] = _build_limiter(vendor)
        return _limiters[vendor]


def _build_limiter(vendor: str) -> Limiter:
    limits = _limits_of(vendor)
    if not limits:
        return Limiter()
{%- if cookiecutter.scheduler == "celery-beat" %}
    if settings.REDIS_URL:
        # Imported here: redis_limits builds on the limiters of this module.
        from .redis_limits import RedisLimiter

        return RedisLimiter.from_settings(vendor, limits)
{%- endif %}
    return LocalLimiter(limits)


def _limits_of(vendor: str) -> Limits:
    config = settings.VENDORS.get(vendor, {})
    options = config.get("OPTIONS", {})
    for option in LIMIT_OPTIONS:
        value = options.get(option) or 0
        if value < 0:
            variables = [s.variable for s in config.get("SETTINGS", ()) if s.option == option]
            name = variables[0] if variables else f"the {option} option of vendor {vendor!r}"
            raise ConfigurationError(f"{name} is {value}: set it to 0 (no limit) or more")
    return Limits.from_options(options)


@receiver(setting_changed)
def _forget_limiters(setting: str, **kwargs: object) -> None:
    if setting in LIMITER_SETTINGS:
        with _lock:
            _limiters.clear()
