"""Vendor limits held across every process of the project, through Redis.

Two atomic scripts keep them, each reading the clock of Redis (TIME), the one clock that every
dyno shares:
- the rate: the earliest time the next call may start, per vendor; a call reserves it and
  moves it on by 1/rate seconds, then sleeps until its own start;
- calls at once: a sorted set of leases per vendor, each expiring. A call takes a lease when
  fewer than the limit are held, and gives it back when it returns. A process killed during a
  call never gives its lease back: the lease expires after the hard time limit of a Celery
  task, which no call outlives in a worker, so the place is lost for that long, not forever.

When Redis does not answer, calls go on under this process's own limits (LocalLimiter), with one
warning, until Redis answers again: Redis is also the broker, so during an outage no task
starts, and only those already running call the vendor. Stopping vendor calls until Redis came
back would fail those tasks for a limit that, for them, still holds in each process.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .limits import Limiter, Limits, LocalLimiter

logger = logging.getLogger(__name__)

KEY_PREFIX = "vendor-limits"
# While the limit of calls at once is reached, look again for a free place after this long,
# twice as long each time, up to MAX_POLL_SECONDS: among many waiters one is always about to
# ask, so a freed place is taken within milliseconds, and Redis is asked far less often.
POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 0.08
# After Redis failed to answer, try it again this much later; calls meanwhile are limited by
# this process alone, rather than each wait for Redis to time out.
RETRY_REDIS_SECONDS = 5.0
# A limiter that cannot reach Redis within this long falls back rather than hold up the call.
REDIS_TIMEOUT_SECONDS = 2.0

# KEYS[1]: when the next call may start (µs on the clock of Redis). ARGV[1]: 1/rate in µs.
# Returns the µs the caller waits for its start.
RESERVE_START = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0))
local next_start = start + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', next_start),
           'PX', math.ceil((next_start - now) / 1000) + 1000)
return start - now
"""
# KEYS[1]: the leases, lease id -> when it expires (µs). ARGV: the limit, a lease id, how long
# a lease lasts (µs). Returns 1 when the lease was taken, 0 when the limit is reached.
TAKE_LEASE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    return 0
end
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[3])), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) / 1000))
return 1
"""


class RedisLimiter(Limiter):
    """A vendor's limits across every process that shares this Redis."""

    def __init__(self, vendor: str, limits: Limits, redis: Redis, lease_seconds: float):
        self.limits = limits
        self.lease_seconds = lease_seconds
        self._next_start_key = f"{KEY_PREFIX}:{vendor}:next-start"
        self._leases_key = f"{KEY_PREFIX}:{vendor}:leases"
        self._redis = redis
        self._reserve_start = redis.register_script(RESERVE_START)
        self._take_lease = redis.register_script(TAKE_LEASE)
        # This process's own limits: its share of the places, and all of them while Redis is
        # out of reach.
        self._local = LocalLimiter(limits)
        self._vendor = vendor
        self._state_lock = threading.Lock()
        self._unreachable_since: float | None = None  # time.monotonic() of the first failure
        self._retry_redis_at = 0.0

    @classmethod
    def from_settings(cls, vendor: str, limits: Limits) -> RedisLimiter:
        redis = Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            # Once more on a fresh connection, for one that Redis closed while it lay idle.
            retry=Retry(NoBackoff(), retries=1),
            **settings.REDIS_SSL_OPTIONS,
        )
        return cls(vendor, limits, redis, lease_seconds=settings.CELERY_TASK_TIME_LIMIT)

    @contextmanager
    def call(self) -> Iterator[None]:
        # This process's own place first: its threads never hold more leases than the limit,
        # and those beyond it wait on a semaphore rather than ask Redis again and again.
        with self._local.place():
            lease = None
            if self._redis_worth_trying():
                try:
                    lease = self._take_turn()
                except RedisError as error:
                    self._lost_redis(error)
                else:
                    self._found_redis()
            if lease is None:
                self._local.wait_for_start()
                yield
                return
            try:
                yield
            finally:
                self._give_back(lease)

    def _take_turn(self) -> str:
        """Wait for a lease, then for a start, both granted by Redis; return the lease's id."""
        lease = secrets.token_hex(8)
        if self.limits.calls_at_once:
            lease_micros = int(self.lease_seconds * 1_000_000)
            poll = POLL_SECONDS
            while not self._take_lease(
                keys=[self._leases_key], args=[self.limits.calls_at_once, lease, lease_micros]
            ):
                # Jittered, so that waiting processes do not ask in step.
                time.sleep(poll * random.uniform(0.5, 1.5))
                poll = min(2 * poll, MAX_POLL_SECONDS)
        if self.limits.start_interval:
            try:
                wait_micros = self._reserve_start(
                    keys=[self._next_start_key], args=[int(self.limits.start_interval * 1_000_000)]
                )
                time.sleep(int(wait_micros) / 1_000_000)
            except BaseException:
                # Failed, or interrupted (a task's soft time limit): the place is not kept.
                self._give_back(lease)
                raise
        return lease

    def _give_back(self, lease: str) -> None:
        if not self.limits.calls_at_once:
            return
        try:
            self._redis.zrem(self._leases_key, lease)
        except RedisError as error:
            # The lease expires by itself.
            self._lost_redis(error)

    def _redis_worth_trying(self) -> bool:
        with self._state_lock:
            return self._unreachable_since is None or time.monotonic() >= self._retry_redis_at

    def _lost_redis(self, error: Exception) -> None:
        with self._state_lock:
            now = time.monotonic()
            self._retry_redis_at = now + RETRY_REDIS_SECONDS
            if self._unreachable_since is not None:
                return
            self._unreachable_since = now
        logger.warning(
            "Vendor limits of %s: Redis does not answer; limiting calls within this process "
            "until it does: %s",
            self._vendor,
            error,
        )

    def _found_redis(self) -> None:
        with self._state_lock:
            if self._unreachable_since is None:
                return
            outage = time.monotonic() - self._unreachable_since
            self._unreachable_since = None
        logger.info("Vendor limits of %s: Redis answers again after %.0f s", self._vendor, outage)
