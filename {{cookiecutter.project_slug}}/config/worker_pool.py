"""The worker's pool: Celery's threads, made to stop on a cold shutdown, cleanly and at once.

The tasks wait on vendors and the database, so threads serve them in a fraction of the memory
processes would take. On Heroku, SIGTERM becomes a cold shutdown (REMAP_SIGTERM=SIGQUIT), which
Celery runs inside the signal handler, on the main thread, wherever that thread happened to be.
Celery's thread pool trips over it twice:

- It cancels the running tasks by killing their pool jobs, and the thread pool answers with
  NotImplementedError, logged CRITICAL ("Unrecoverable error") and mailed at every deploy. A
  thread cannot be killed: here a cancelled task's thread runs on to the end of its vendor call
  (every call has a timeout) while the pool stops; a task it finishes is acknowledged, and one
  it does not finish, its message unacknowledged, is handed back to Redis as the worker closes
  its connection, for the next worker to run.
- It stops the pool, which takes the executor's lock; when the signal lands while the main
  thread is handing a task to the executor, that thread already holds the lock, and the worker
  waits on itself until Heroku kills it 30 s later. Here the pool then stops from a thread of
  its own, which takes the lock as soon as the hand-over ends.
"""

from __future__ import annotations

import threading
from typing import Any

from celery.concurrency import thread


class TaskPool(thread.TaskPool):
    # True while the main thread is inside the executor's submit(), holding its lock.
    _submitting = False
    _stopped = False

    def on_apply(self, *args: Any, **kwargs: Any) -> Any:
        if self._stopped:
            # A message already on its way when the cold shutdown stopped the pool: left
            # unacknowledged, it goes back to Redis as the worker closes its connection, for
            # the next worker to run. (The executor would refuse it with a RuntimeError,
            # logged CRITICAL.)
            return None
        self._submitting = True
        try:
            return super().on_apply(*args, **kwargs)
        finally:
            self._submitting = False

    def on_stop(self) -> None:
        self._stopped = True
        if self._submitting:
            # A signal handler interrupted the hand-over: stopping here would wait for a lock
            # this thread holds.
            threading.Thread(target=super().on_stop, name="pool-stop").start()
        else:
            super().on_stop()

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        """Nothing to kill: the thread finishes, or ends with the process."""
