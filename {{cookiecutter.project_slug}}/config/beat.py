"""Beat's scheduler: RedBeat, made to outlive any Redis outage.

RedBeat keeps its lock and the schedule's entries in Redis, and dies at the first error from
it: each tick extends the lock on a connection that does not retry, a beat started while Redis
is down fails at once, and a Redis that comes back empty has neither the lock nor the entries.
This scheduler waits out an outage of any length, ticking until Redis answers; then it takes
the lock again, or stands by while another beat holds it, and installs the entries again. It
dispatches only while it holds the lock, so that two beats never dispatch at once.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery.signals import beat_init
from redbeat import schedulers as redbeat
from redis import Redis
from redis.exceptions import ConnectionError, LockError, TimeoutError
from redis.lock import Lock

logger = logging.getLogger("celery.beat")

REDIS_ERRORS = (ConnectionError, TimeoutError)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)

# RedBeat takes its lock as beat starts, waiting on a connection that fails while Redis is
# down; this scheduler takes it in its ticks instead.
beat_init.disconnect(redbeat.acquire_distributed_beat_lock)


class RedBeatScheduler(redbeat.RedBeatScheduler):
    lock: Lock | None = None
    _unreachable_since: float | None = None
    _standing_by = False

    def setup_schedule(self) -> None:
        """Nothing yet: Redis may be down as beat starts. The entries are installed whenever
        this beat takes the lock (_take_lock)."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            if self.lock is None and not self._take_lock():
                interval = self.max_interval  # another beat dispatches
            else:
                interval = super().tick(*args, **kwargs)
        except REDIS_ERRORS as error:
            self._lost_redis(error)
            return self.max_interval
        except LockError:
            # Redis came back without the lock (restarted empty), or it expired during the
            # outage and another beat took it: at the next tick, at once, take it again or
            # stand by.
            logger.warning("beat: Lost the lock; taking it again")
            self.lock = None
            return 0.0
        self._found_redis()
        return interval

    def close(self) -> None:
        try:
            super().close()
        except (*REDIS_ERRORS, LockError) as error:
            # Its lock expires by itself; RedBeat keeps nothing else to save.
            logger.warning("beat: Stopped without releasing the lock: %s", error)

    def _take_lock(self) -> bool:
        client = redbeat.get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        # RedBeat's extend sets the expiry afresh rather than adding to what is left.
        lock.lua_extend = client.register_script(redbeat.LUA_EXTEND_TO_SCRIPT)
        if not lock.acquire(blocking=False):
            if not self._standing_by:
                logger.info("beat: Another beat holds the lock; standing by")
                self._standing_by = True
            return False
        self.lock, self._standing_by = lock, False
        logger.info("beat: Acquired lock")
        self._install_entries(client)
        return True

    def _install_entries(self, client: Redis) -> None:
        """Install the schedule's entries, keeping the last run of those Redis still has.

        Those it lost (it restarted empty) or never had are due at once: when they last ran
        is not known, and the outage has most likely made them overdue.
        """
        keys = [self.Entry.generate_key(self.app, name) for name in self.app.conf.beat_schedule]
        missing = [key for key in keys if not client.exists(key)]
        super().setup_schedule()
        for key in missing:
            self.Entry.from_key(key, app=self.app).reschedule(last_run_at=LONG_AGO)

    def _lost_redis(self, error: Exception) -> None:
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            logger.warning(
                "beat: Redis unreachable, dispatching nothing until it answers: %s", error
            )

    def _found_redis(self) -> None:
        if self._unreachable_since is not None:
            outage = time.monotonic() - self._unreachable_since
            logger.info("beat: Redis answers again after %.0f s", outage)
            self._unreachable_since = None
