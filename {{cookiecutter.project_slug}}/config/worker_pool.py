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
- It stops the pool and waits there for the running tasks. The main thread may hold a lock
  one of them needs: the executor's, when the signal lands while a task is being handed over,
  or a log handler's, when it lands mid-log and a task is about to log its end. The worker then
  waits on itself until Heroku kills it 30 s later. Here the pool stops from a thread of its
  own, and the worker waits for the running tasks when it closes the pool, out of the signal
  handler and before it closes its broker connection: a task that ends is acknowledged, not
  handed on to run again.
"""

from __future__ import annotations

import threading
from typing import Any

from celery.concurrency import thread


class TaskPool(thread.TaskPool):
    _stopping: threading.Thread | None = None

    def on_apply(self, *args: Any, **kwargs: Any) -> Any:
        if self._stopping:
            # A message already on its way when the cold shutdown stopped the pool: left
            # unacknowledged, it goes back to Redis as the worker closes its connection, for
            # the next worker to run. (The executor would refuse it with a RuntimeError,
            # logged CRITICAL.)
            return None
        return super().on_apply(*args, **kwargs)

    def on_stop(self) -> None:
        if self._stopping is None:
            # Called from a signal handler: waiting here for the tasks could wait for a lock
            # this thread holds. Not a daemon: the process does not end before the tasks have.
            self._stopping = threading.Thread(target=super().on_stop, name="pool-stop")
            self._stopping.start()

    def on_close(self) -> None:
        if self._stopping is not None:
            self._stopping.join()

    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        """Nothing to kill: the thread finishes, or ends with the process."""
