"""The simulated vendor's count of calls in flight, shared by every process through Redis.

The simulated cloud answers inside each worker process, but stands for one vendor: its limit of
calls at once (SIMULATOR_MAX_CONCURRENT_CALLS, beyond which it answers 429) holds across all of
them, as a real vendor's does, and it keeps the most calls it saw at once, for a benchmark to
show that the project's own limit held however many workers ran.
"""

from __future__ import annotations

import secrets
import threading

from django.conf import settings
from redis import Redis

from .simulator import CallsInFlight

KEY_PREFIX = "simulator"
# A call of a process killed before it ends leaves the count after this long.
CALL_EXPIRES_SECONDS = 300

# KEYS: the calls in flight (call id -> when it expires, µs), the most seen at once.
# ARGV: the limit (0: none), the call's id, its expiry (µs). Returns 1 when counted, else 0.
ENTER = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local in_flight = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[1])
if limit > 0 and in_flight >= limit then
    return 0
end
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[3])), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) / 1000))
if in_flight + 1 > tonumber(redis.call('GET', KEYS[2]) or 0) then
    redis.call('SET', KEYS[2], in_flight + 1)
end
return 1
"""


class SharedCallsInFlight(CallsInFlight):
    """Calls in flight to the simulated vendor, counted in Redis; each thread's own call."""

    def __init__(self, redis: Redis):
        super().__init__()
        self._redis = redis
        self._enter = redis.register_script(ENTER)
        self._calls_key = f"{KEY_PREFIX}:calls-in-flight"
        self._most_key = f"{KEY_PREFIX}:most-calls-at-once"
        self._call_ids = threading.local()

    @classmethod
    def from_settings(cls) -> SharedCallsInFlight:
        return cls(Redis.from_url(settings.REDIS_URL, **settings.REDIS_SSL_OPTIONS))

    def enter(self, limit: int) -> bool:
        call_id = secrets.token_hex(8)
        expires = CALL_EXPIRES_SECONDS * 1_000_000
        if not self._enter(keys=[self._calls_key, self._most_key], args=[limit, call_id, expires]):
            return False
        self._call_ids.current = call_id
        return True

    def leave(self) -> None:
        self._redis.zrem(self._calls_key, self._call_ids.current)

    def most_at_once(self) -> int:
        return int(self._redis.get(self._most_key) or 0)
