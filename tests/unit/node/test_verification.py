"""Verification: when it is due, what it leaves out, what it repairs."""

from __future__ import annotations

import pytest

from inosync.changes import Pending
from inosync.node.drift import Drift
from inosync.node.verification import JITTER, Verifier, repairable
from inosync.report.node_facts import NodeFacts


@pytest.mark.parametrize(("interval", "jitter", "due_at"), [
    (3600.0, 1.0, 3700.0), (3600.0, 1 - JITTER, 100.0 + 2700.0), (0.0, 1.0, None),
])
def test_schedule(interval: float, jitter: float, due_at: float | None) -> None:
    verifier = Verifier(interval)
    verifier.schedule(100.0, lambda low, high: jitter)
    assert verifier.due_at == due_at


@pytest.mark.parametrize(("now", "failing", "due"), [
    (99.0, False, False), (100.0, False, True), (500.0, True, False),
])
def test_never_due_while_failing(now: float, failing: bool, due: bool) -> None:
    verifier = Verifier(60.0)
    verifier.due_at = 100.0
    assert verifier.due(now, failing) is due


def test_what_is_pending_or_changes_meanwhile_is_not_drift() -> None:
    verifier = Verifier(60.0)
    pending = Pending()
    pending.mark("a/pending.txt")
    verifier.begin(pending)
    verifier.changed("b/written-meanwhile.txt")
    assert verifier.due_at is None
    assert verifier.changes == {"a/pending.txt", "b/written-meanwhile.txt"}


def _drift(*kinds: str) -> list[Drift]:
    return [Drift(f"p{i}", kind) for i, kind in enumerate(kinds)]


@pytest.mark.parametrize(("kinds", "bound", "kept"), [
    (("missing", "extra", "extra"), 5, 3),
    (("missing", "extra", "extra"), 2, 3),
    (("missing", "extra", "extra"), 1, 1),  # more deletions than allowed: none of them
    (("missing", "extra", "extra"), -1, 3),  # no bound
    ((), 0, 0),
])
def test_deletions_are_repaired_only_within_the_bound(kinds: tuple[str, ...], bound: int,
                                                      kept: int) -> None:
    assert len(repairable(_drift(*kinds), bound)) == kept


def test_record_counts_drift_and_ends_the_comparison() -> None:
    verifier = Verifier(60.0)
    verifier.changes = set()
    facts = NodeFacts("web1", "web1:", "ssh")
    drift = _drift("missing", "content")
    verifier.record(facts, 1234.0, drift, drift[:1])
    assert verifier.changes is None
    assert facts.verification is not None and facts.verification.drift == 2
    assert facts.verification.repaired == 1 and facts.drift_total == 2
    assert facts.last_drift == facts.verification
