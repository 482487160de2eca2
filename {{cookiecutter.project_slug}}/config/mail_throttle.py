"""Mail a repeated ERROR once per window, saying how many like it were not mailed.

During an incident one error repeats, for every device or every run, or{% if cookiecutter.scheduler == "celery-beat" %} as a
worker retries its broker connection{% else %} at every request
that fails alike{% endif %}. The admins get the first one at once, and the next
one a window later, with how many they were spared in between. Every record still
reaches the logs{% if cookiecutter.use_sentry %} and Sentry{% endif %}: this filter sits on the mail handler only, in each process.

Records are alike when they come from the same logger and line of code (the message before its
arguments, and the class of the exception), or when they name the same incident:
`logger.error(..., extra={"incident": key})`, as the health check does for each new alert.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass

# Beyond this many kinds of error remembered, those whose window has closed are forgotten.
REMEMBERED = 1000


@dataclass
class _Window:
    opened: float
    held_back: int = 0


class OncePerWindow(logging.Filter):
    def __init__(self, seconds: float = 3600):
        super().__init__()
        self.seconds = seconds
        self._lock = threading.Lock()
        self._windows: dict[Hashable, _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = self.key(record)
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.opened < self.seconds:
                window.held_back += 1
                return False
            if len(self._windows) >= REMEMBERED:
                self._forget_closed(now)
            self._windows[key] = _Window(opened=now)
        # Read by the mail handler's format, "%(message)s%(held_back)s".
        record.held_back = ""
        if window is not None and window.held_back:
            minutes = (now - window.opened) / 60
            record.held_back = (
                f"\n\n{window.held_back} more like this were not mailed since the last one, "
                f"{minutes:.0f} minutes ago."
            )
        return True

    @staticmethod
    def key(record: logging.LogRecord) -> Hashable:
        incident = getattr(record, "incident", None)
        if incident is not None:
            return ("incident", incident)
        exception = record.exc_info[0] if record.exc_info else None
        return (record.name, record.levelno, str(record.msg), exception)

    def _forget_closed(self, now: float) -> None:
        self._windows = {
            key: window
            for key, window in self._windows.items()
            if now - window.opened < self.seconds
        }
