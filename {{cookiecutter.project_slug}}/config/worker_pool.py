"""The worker's pool: Celery's threads, made to stop on a cold shutdown without a CRITICAL.

The tasks wait on vendors and the database, so threads serve them in a fraction of the memory
processes would take. On Heroku, SIGTERM becomes a cold shutdown (REMAP_SIGTERM=SIGQUIT), in
which Celery cancels the running tasks by killing their pool jobs; Celery's thread pool
answers that with NotImplementedError, logged CRITICAL ("Unrecoverable error") and mailed at
every deploy. A thread cannot be killed. Here a cancelled task's thread runs on to the end of
its vendor call (every call has a timeout) while the pool stops; a task it finishes is
acknowledged, and one it does not finish, its message unacknowledged, is handed back to Redis
as the worker closes its connection, for the next worker to run.
"""

from celery.concurrency import thread


class TaskPool(thread.TaskPool):
    def terminate_job(self, pid: int, signal: int | None = None) -> None:
        """Nothing to kill: the thread finishes, or ends with the process."""
