"""Calls in flight together on threads that borrow their caller's database connections.

A vendor call needs no database, but the simulated vendor keeps its devices in the project's
tables, and a thread that queries opens a connection of its own and keeps it until it ends: a
batch's calls fanned out on 50 threads, in each of several workers, would take more
connections than PostgreSQL allows. The threads use the caller's connection instead, as
Django's live test server shares its own with its threads: the driver runs their queries one
at a time on it, and they see what the caller sees, inside its transaction too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

T = TypeVar("T")
R = TypeVar("R")


def in_threads(work: Callable[[T], R], items: Sequence[T], at_once: int) -> list[R]:
    """`work(item)` for every item, at most `at_once` at a time; the results in the order of
    the items. The first error raised propagates once the calls in flight end, and the items
    not started yet are dropped."""
    if len(items) <= 1 or at_once <= 1:
        return [work(item) for item in items]
    lent = {connection.alias: connection for connection in connections.all(initialized_only=True)}
    for connection in lent.values():
        connection.inc_thread_sharing()
    try:
        with ThreadPoolExecutor(max_workers=min(at_once, len(items))) as pool:
            futures = [pool.submit(_borrowing, lent, work, item) for item in items]
            try:
                return [future.result() for future in futures]
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
    finally:
        for connection in lent.values():
            connection.dec_thread_sharing()


def _borrowing(lent: dict[str, BaseDatabaseWrapper], work: Callable[[T], R], item: T) -> R:
    for alias, connection in lent.items():
        connections[alias] = connection
    try:
        return work(item)
    finally:
        # Given back, never closed: the caller goes on using it.
        for alias in lent:
            del connections[alias]
