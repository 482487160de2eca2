"""Per-vendor limits within one process: many threads, never more than the vendor allows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import environ
import pytest
from django.conf import settings

from config.vendor_settings import VendorSetting, vendor

from ..base import ConfigurationError
from ..limits import LIMIT_OPTIONS, Limiter, Limits, LocalLimiter, limiter_for
from ..registry import close_clients, vendor_client
from ..simulator import simulated_cloud
from .limit_checks import RATE, CallCounter, assert_spaced_starts

THREADS = 8
CALLS_PER_THREAD = 8


def run_in_threads(work: Callable[[], None], threads: int = THREADS) -> None:
    """Run `work` on `threads` threads let go at the same moment; re-raise what one raised."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            work()
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


def test_threads_never_exceed_the_calls_at_once():
    limiter = LocalLimiter(Limits(calls_at_once=3))
    counter = CallCounter()

    def calls() -> None:
        for _ in range(CALLS_PER_THREAD):
            with limiter.call(), counter.counting():
                time.sleep(0.005)

    run_in_threads(calls)

    # All 3 places are used, and never a 4th.
    assert counter.most_at_once == 3
    assert counter.calls == THREADS * CALLS_PER_THREAD


class StoppedClock:
    """A clock that stands still while calls wait: each thread's start is then exactly the time
    the limiter gave it, now plus what it was told to sleep, however late the thread runs."""

    def __init__(self) -> None:
        self.now = 100.0
        self._slept = threading.local()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self._slept.seconds = seconds

    def start(self) -> float:
        return self.now + self._slept.seconds


def test_threads_never_start_two_calls_closer_than_the_rate_allows():
    clock = StoppedClock()
    limiter = LocalLimiter(Limits(requests_per_second=RATE), clock=clock.time, sleep=clock.sleep)
    starts: list[float] = []

    def calls() -> None:
        for _ in range(2):
            with limiter.call():
                starts.append(clock.start())

    run_in_threads(calls)

    # One start every 1/RATE seconds from now on: none closer, none skipped.
    expected = [clock.now + n / RATE for n in range(THREADS * 2)]
    assert sorted(starts) == pytest.approx(expected)


def test_both_limits_hold_together():
    limiter = LocalLimiter(Limits(calls_at_once=2, requests_per_second=RATE))
    counter = CallCounter()
    starts: list[float] = []

    def call() -> None:
        with limiter.call(), counter.counting():
            starts.append(time.monotonic())
            # Longer than 2 spacings: the rate alone would let a 3rd call start meanwhile.
            time.sleep(2.5 / RATE)

    run_in_threads(call)

    assert counter.most_at_once == 2
    assert_spaced_starts(starts, RATE)


def test_a_call_that_fails_gives_its_place_back():
    limiter = LocalLimiter(Limits(calls_at_once=1))

    with pytest.raises(RuntimeError), limiter.call():
        raise RuntimeError("the vendor call failed")
    entered = threading.Event()

    def call() -> None:
        with limiter.call():
            entered.set()

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(timeout=5)

    assert entered.is_set()


def test_a_vendor_without_limits_passes_calls_straight_through(settings):
    settings.VENDORS = {"acme": {"CLIENT": "simulator.SimulatorClient", "OPTIONS": {}}}
    limiter = limiter_for("acme")

    began = time.perf_counter()
    for _ in range(10_000):
        with limiter.call():
            pass
    elapsed = time.perf_counter() - began

    assert type(limiter) is Limiter
    # Nothing measurable beside a vendor call, which takes milliseconds: a fraction of a
    # microsecond, and well under 20 µs on a slow and busy machine.
    assert elapsed / 10_000 < 20e-6


@pytest.mark.parametrize(
    "options",
    [{}, {"max_calls_at_once": 0, "max_requests_per_second": 0.0}, {"timeout": 5.0}],
    ids=["missing", "zero", "other options only"],
)
def test_no_limit_configured_means_no_limiter(settings, options):
    settings.VENDORS = {"acme": {"CLIENT": "simulator.SimulatorClient", "OPTIONS": options}}

    assert type(limiter_for("acme")) is Limiter


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            VendorSetting("max_calls_at_once", "ACME_MAX_CALLS_AT_ONCE", default=0),
            "ACME_MAX_CALLS_AT_ONCE is -1: set it to 0 (no limit) or more",
        ),
        (
            VendorSetting("max_requests_per_second", "ACME_MAX_REQUESTS_PER_SECOND", default=0.0),
            "ACME_MAX_REQUESTS_PER_SECOND is -1.0: set it to 0 (no limit) or more",
        ),
    ],
    ids=["calls at once", "requests per second"],
)
def test_a_negative_limit_is_refused_in_one_line_naming_its_variable(
    settings, monkeypatch, setting, message
):
    monkeypatch.setenv(setting.variable, "-1")
    settings.VENDORS = {"acme": vendor(environ.Env(), "simulator.SimulatorClient", setting)}

    with pytest.raises(ConfigurationError) as refused:
        limiter_for("acme")

    assert str(refused.value) == message


def test_limits_come_from_the_vendors_settings_once_per_process(settings):
    options = {"max_calls_at_once": 4, "max_requests_per_second": 2.5}
    settings.VENDORS = {"acme": {"CLIENT": "simulator.SimulatorClient", "OPTIONS": options}}

    limiter = limiter_for("acme")

    assert isinstance(limiter, LocalLimiter)
    assert limiter.limits == Limits(calls_at_once=4, requests_per_second=2.5)
    assert limiter_for("acme") is limiter


def test_changed_settings_build_a_new_limiter(settings):
    settings.VENDORS = {
        "acme": {"CLIENT": "simulator.SimulatorClient", "OPTIONS": {"max_calls_at_once": 1}}
    }
    before = limiter_for("acme")

    settings.VENDORS = {
        "acme": {"CLIENT": "simulator.SimulatorClient", "OPTIONS": {"max_calls_at_once": 2}}
    }

    after = limiter_for("acme")
    assert after is not before
    assert isinstance(after, LocalLimiter)
    assert after.limits == Limits(calls_at_once=2)


def test_the_vendors_client_is_built_without_the_limiters_options():
    options = settings.VENDORS["{{ cookiecutter.__vendor_module }}"]["OPTIONS"]
    assert set(LIMIT_OPTIONS) <= set(options)

    client = vendor_client("{{ cookiecutter.__vendor_module }}")

    assert type(client).__name__ == "{{ cookiecutter.__vendor_class }}"
    close_clients()


def test_the_simulated_vendor_is_built_without_the_limiters_options(settings):
    options = {"latency": 0.5, "max_calls_at_once": 2, "max_requests_per_second": 5.0}
    settings.VENDORS = {"simulator": {"CLIENT": "simulator.SimulatorClient", "OPTIONS": options}}

    assert simulated_cloud().options.latency == 0.5
