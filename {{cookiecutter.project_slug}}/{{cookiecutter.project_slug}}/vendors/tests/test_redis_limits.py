"""Per-vendor limits through Redis: separate processes, together never more than the vendor
allows; a killed process's place comes back; a Redis outage stops no call.

The tests across processes need a real Redis: the one REDIS_URL names, as in CI. Without it they
are skipped, and fail in CI (where CI is set), which must have it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import threading
import time
from collections.abc import Iterator

import fakeredis
import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.services import service_missing

from .. import redis_limits
from ..limits import Limits, limiter_for
from ..redis_limits import KEY_PREFIX, RedisLimiter
from .limit_checks import NOTING_DELAY, RATE, assert_spaced_starts
from .redis_callers import THREADS, call_from_threads, hold_a_place, in_flight_key, limiter

PROCESSES = 3
# Processes of their own, started afresh: not forks of a process that runs threads.
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def redis_url() -> str:
    """The Redis that REDIS_URL names; skipped without one, failed in CI."""
    url = os.environ.get("REDIS_URL", "")
    try:
        if not url:
            raise RedisError("REDIS_URL is unset")
        Redis.from_url(url, socket_connect_timeout=2).ping()
    except RedisError as error:
        service_missing(
            "Redis", str(error), "set REDIS_URL=redis://127.0.0.1:6379/4 to run these tests"
        )
    return url


@pytest.fixture
def vendor(redis_url: str) -> Iterator[str]:
    """A vendor name of this test's own, whose keys it removes: runs never meet."""
    name = f"test-{secrets.token_hex(6)}"
    yield name
    redis = Redis.from_url(redis_url)
    redis.delete(*redis.keys(f"{KEY_PREFIX}:{name}:*"), in_flight_key(name))


def run_processes(redis_url: str, vendor: str, limits: Limits, calls: int) -> tuple[list, int]:
    """Every process's starts, and the most calls in flight at once across them."""
    go = SPAWN.Barrier(PROCESSES)
    results = SPAWN.Queue()
    processes = [
        SPAWN.Process(
            target=call_from_threads, args=(redis_url, vendor, limits, calls, go, results)
        )
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
        assert process.exitcode == 0
    starts = [start for process_starts, _ in outcomes for start in process_starts]
    assert len(starts) == PROCESSES * THREADS * calls
    return starts, max(most for _, most in outcomes)


def test_processes_together_never_exceed_the_calls_at_once(redis_url, vendor):
    _, most_at_once = run_processes(redis_url, vendor, Limits(calls_at_once=3), calls=5)

    # All 3 places are used, and never a 4th, though 12 threads in 3 processes ask.
    assert most_at_once == 3


def test_processes_together_never_start_two_calls_closer_than_the_rate_allows(redis_url, vendor):
    starts, _ = run_processes(redis_url, vendor, Limits(requests_per_second=RATE), calls=1)

    assert_spaced_starts(starts, RATE)


def test_the_place_of_a_killed_process_comes_back_when_its_lease_expires(redis_url, vendor):
    lease_seconds = 2.0
    held_since = SPAWN.Value("d", 0.0)
    holder = SPAWN.Process(target=hold_a_place, args=(redis_url, vendor, lease_seconds, held_since))
    holder.start()
    while not held_since.value and holder.is_alive():
        time.sleep(0.01)
    holder.kill()  # as a dyno's process is: no `finally` runs, nothing is given back
    holder.join()
    entered = threading.Event()
    entered_at = 0.0

    def call() -> None:
        nonlocal entered_at
        with limiter(redis_url, vendor, Limits(calls_at_once=1), lease_seconds).call():
            entered_at = time.time()
            entered.set()

    threading.Thread(target=call, daemon=True).start()

    assert entered.wait(timeout=10), "the killed process's place never came back"
    # Not before the lease expired, however soon its holder was killed.
    assert entered_at - held_since.value > lease_seconds - NOTING_DELAY


@pytest.fixture
def redis_server() -> fakeredis.FakeServer:
    """A Redis of this test's own; `redis_server.connected = False` cuts it off."""
    return fakeredis.FakeServer()


def test_a_redis_outage_stops_no_call_and_warns_once(redis_server, caplog, monkeypatch):
    monkeypatch.setattr(redis_limits, "RETRY_REDIS_SECONDS", 0.0)
    redis = fakeredis.FakeRedis(server=redis_server)
    shared = RedisLimiter("acme", Limits(calls_at_once=1), redis, lease_seconds=30)
    redis_server.connected = False

    with caplog.at_level(logging.INFO, logger=redis_limits.__name__):
        for _ in range(3):
            with shared.call():
                pass
        warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
        redis_server.connected = True
        with shared.call():
            held = redis.zcard(f"{KEY_PREFIX}:acme:leases")

    assert len(warnings) == 1
    assert "Redis does not answer" in warnings[0].getMessage()
    # Once Redis answers, the limits are held there again, and it is said.
    assert held == 1
    assert "Redis answers again" in caplog.records[-1].getMessage()


def test_during_an_outage_this_process_still_keeps_the_limits(redis_server):
    redis = fakeredis.FakeRedis(server=redis_server)
    shared = RedisLimiter("acme", Limits(requests_per_second=RATE), redis, lease_seconds=30)
    redis_server.connected = False
    starts: list[float] = []

    for _ in range(3):
        with shared.call():
            starts.append(time.monotonic())

    assert_spaced_starts(starts, RATE)


def test_with_redis_url_set_the_limits_hold_through_redis(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/4"
    settings.VENDORS = {
        "acme": {"CLIENT": "simulator.SimulatorClient", "OPTIONS": {"max_calls_at_once": 2}}
    }

    shared = limiter_for("acme")

    assert isinstance(shared, RedisLimiter)
    assert shared.limits == Limits(calls_at_once=2)
    # No call outlives a task's hard time limit, nor, then, its lease.
    assert shared.lease_seconds == settings.CELERY_TASK_TIME_LIMIT
