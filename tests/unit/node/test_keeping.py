"""When kept copies are pruned, and pruning's failures said once per state."""

from __future__ import annotations

import logging
import os

import pytest

from inosync.config.load import validate
from inosync.node.keeping import PRUNE_EVERY_MAX, Pruner, empty_dir, prune_interval


def cfg(keep: object) -> object:
    return validate({"wpath": "/srv/www", "rpath": "/srv/m", "rnodes": [""],
                     "keep_deleted": keep}, "f", exists=lambda p: True)


@pytest.mark.parametrize(("period", "every"), [
    (7 * 86400, PRUNE_EVERY_MAX), (3600, 900), (8, 2), (1, 1)])
def test_a_period_is_pruned_a_few_times_over_and_at_least_hourly(period: float,
                                                                 every: float) -> None:
    assert prune_interval(period) == every


def test_pruning_is_due_before_the_first_sync_then_each_interval() -> None:
    on, off = cfg("1h"), cfg(0)
    pruner = Pruner("n")
    assert pruner.due(on, 100.0) and not pruner.due(off, 100.0)  # type: ignore[arg-type]
    pruner.started(on, 100.0)  # type: ignore[arg-type]
    assert not pruner.due(on, 999.0) and pruner.due(on, 1000.0)  # type: ignore[arg-type]
    assert pruner.deadline(on) == 1000.0 and pruner.deadline(off) is None  # type: ignore[arg-type]


def test_failures_are_said_once_and_the_recovery_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "inosync.node")
    pruner = Pruner("web1")
    pruner.ended(12, b"rsync: connection unexpectedly closed")
    pruner.ended(12, b"again")
    assert pruner.failing
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    pruner.ended(0, b"")
    assert not pruner.failing and "pruning kept copies works again" in caplog.text


def test_the_empty_directory_is_one_and_empty() -> None:
    assert empty_dir() == empty_dir() and os.listdir(empty_dir()) == []
