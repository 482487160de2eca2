"""Callers of a vendor through limits held in Redis, each run in a process of its own by
test_redis_limits.py. Kept apart from the tests, so that a process imports only what it runs."""

from __future__ import annotations

import threading
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event

from redis import Redis

from ..limits import Limits
from ..redis_limits import RedisLimiter

THREADS = 4


def in_flight_key(vendor: str) -> str:
    return f"test-limits:{vendor}:in-flight"


def limiter(redis_url: str, vendor: str, limits: Limits, lease_seconds: float) -> RedisLimiter:
    return RedisLimiter(vendor, limits, Redis.from_url(redis_url), lease_seconds)


def call_from_threads(
    redis_url: str, vendor: str, limits: Limits, calls: int, go: Barrier, results: Queue
) -> None:
    """`calls` calls from each of THREADS threads, once every process is ready. Puts the times
    the calls started at, and the most calls in flight that it saw, counted in Redis across
    every process."""
    shared = limiter(redis_url, vendor, limits, lease_seconds=30)
    redis = Redis.from_url(redis_url)
    starts: list[float] = []
    most_at_once = 0

    def call() -> None:
        nonlocal most_at_once
        for _ in range(calls):
            with shared.call():
                starts.append(time.time())
                most_at_once = max(most_at_once, redis.incr(in_flight_key(vendor)))
                time.sleep(0.01)
                redis.decr(in_flight_key(vendor))

    threads = [threading.Thread(target=call) for _ in range(THREADS)]
    go.wait(timeout=60)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((starts, most_at_once))


def hold_a_place(redis_url: str, vendor: str, lease_seconds: float, holding: Event) -> None:
    """Take the only place, and keep it until killed."""
    with limiter(redis_url, vendor, Limits(calls_at_once=1), lease_seconds).call():
        holding.set()
        time.sleep(60)
