"""Shared by the fault tests: polling with a deadline, never a fixed wait."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)  # a poll interval inside a deadline, not a wait for an event
    pytest.fail(f"timed out waiting for {what}")
