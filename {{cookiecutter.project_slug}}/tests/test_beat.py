"""Beat outlives Redis: down at start, down for a while, back empty; and two beats never
dispatch at once. Redis is fakeredis, which can be cut off and emptied at will."""

from types import SimpleNamespace

import fakeredis
import pytest
from celery.signals import beat_init
from redbeat.schedulers import acquire_distributed_beat_lock

from config import celery_app
from config.beat import RedBeatScheduler

JOBS = {"refresh_all", "check_health", "settle_commands", "sync_devices", "prune_observations"}


@pytest.fixture
def redis(monkeypatch):
    """One fake Redis for every beat of a test; `redis.server.connected = False` cuts it off."""
    celery_app.finalize()  # as `celery beat` does: the schedule is set up on finalize
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server, decode_responses=True)
    # RedBeat keeps its client on the app.
    monkeypatch.setattr(celery_app, "redbeat_redis", client, raising=False)
    return SimpleNamespace(server=server, client=client)


class Beat:
    """A beat process's scheduler, recording what it dispatches instead of sending it."""

    def __init__(self):
        self.scheduler = RedBeatScheduler(app=celery_app)
        self.dispatched: list[str] = []
        self.scheduler.apply_async = self._dispatch

    def _dispatch(self, entry, **kwargs):
        self.dispatched.append(entry.name)
        return self.scheduler.reserve(entry)

    def tick(self) -> set[str]:
        """What this tick dispatched."""
        before = len(self.dispatched)
        self.scheduler.tick()
        return set(self.dispatched[before:])


def test_beat_started_while_redis_is_down_waits_then_dispatches(redis):
    redis.server.connected = False
    beat = Beat()

    assert beat.tick() == set()
    assert beat.tick() == set()
    redis.server.connected = True

    assert beat.tick() == JOBS


def test_beat_outlives_an_outage_and_redis_coming_back_empty(redis):
    beat = Beat()
    assert beat.tick() == JOBS

    redis.server.connected = False
    assert beat.tick() == set()
    redis.server.connected = True
    redis.client.flushall()  # restarted with nothing on disk: no lock, no entries
    beat.tick()  # finds its lock gone
    redispatched = beat.tick()

    assert redispatched == JOBS  # the entries are back, and due, their last runs forgotten
    assert beat.scheduler.lock is not None and beat.scheduler.lock.owned()


def test_a_second_beat_stands_by_while_the_first_holds_the_lock(redis):
    first, second = Beat(), Beat()

    assert first.tick() == JOBS
    assert second.tick() == set()
    first.scheduler.close()  # the first stops, and lets go of its lock

    # It takes over the lock; the first one's runs are remembered, so nothing is due yet.
    assert second.tick() == set()
    assert second.scheduler.lock is not None


def test_after_redis_comes_back_empty_only_one_of_two_beats_dispatches(redis):
    beats = [Beat(), Beat()]
    for beat in beats:
        beat.tick()
    redis.server.connected = False
    for beat in beats:
        beat.tick()
    redis.server.connected = True
    redis.client.flushall()

    for _ in range(3):
        for beat in beats:
            beat.tick()

    holders = [beat for beat in beats if beat.scheduler.lock is not None]
    assert len(holders) == 1
    assert sum(beat.dispatched.count("refresh_all") for beat in beats) == 2


def test_redbeat_does_not_take_the_lock_at_start_up_where_redis_may_be_down():
    # Celery's signals hold their receivers by weak reference.
    assert acquire_distributed_beat_lock not in [ref() for _, ref in beat_init.receivers]
