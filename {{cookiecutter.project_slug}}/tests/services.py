"""Tests that need a running service, which no fake stands in for: without it they are skipped
locally, with a reason that says how to run them, and fail in CI (where CI is set), which must
have it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def service_missing(service: str, why: str, how_to_run: str) -> NoReturn:
    """Skip the test, or fail it in CI: `service` is needed for it, and `why` it is missing."""
    message = f"{service} is needed for these tests, and {why}"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must have it")
    pytest.skip(f"{message}; {how_to_run}")
