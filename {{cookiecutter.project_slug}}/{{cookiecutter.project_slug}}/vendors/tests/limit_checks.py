"""What the tests of vendor limits check, whichever limiter they test."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# How late a caller may note the time it started at, after the limiter let it go: a thread
# that is woken is not always run at once, least of all on a busy machine. The limiter's own
# spacing is exact; tests space calls 1/RATE apart, well beyond this delay.
NOTING_DELAY = 0.05
RATE = 10.0


class CallCounter:
    """Counts the calls in flight, and the most there were at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_at_once = 0
        self.calls = 0

    @contextmanager
    def counting(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self.calls += 1
            self.most_at_once = max(self.most_at_once, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1


def assert_spaced_starts(starts: Sequence[float], rate: float) -> None:
    """No two calls started closer than 1/rate apart: the n-th start after any other came at
    least n/rate later, less the delay with which a caller may have noted its start."""
    ordered = sorted(starts)
    for first in range(len(ordered)):
        for later in range(first + 1, len(ordered)):
            span = ordered[later] - ordered[first]
            least = (later - first) / rate - NOTING_DELAY
            assert span >= least, (
                f"{later - first + 1} calls started within {span:.3f} s; "
                f"at {rate}/s that takes at least {least:.3f} s"
            )
