"""The delete bound, all or nothing: what the count allows, refusals, and the recheck."""

from __future__ import annotations

import pytest

from inosync.node.delete_bound import RECHECK_FIRST, RECHECK_MAX, DeleteBound


@pytest.mark.parametrize(("share", "entries", "would_delete", "dry_run", "limit"), [
    # a share of 0.5: as many deletions as the source has entries (half the node's)
    (0.5, 1000, 0, False, 1000),
    (0.5, 1000, 1000, False, 1000),
    (0.5, 1000, 1001, False, None),  # over the bound: nothing is deleted
    (0.5, 1000, 1001, True, 1000),  # a dry run refuses nothing
    (0.2, 1000, 250, False, 250),
    (0.2, 1000, 251, False, None),
    (1.0, 1000, 5000, False, -1),  # no bound
])
def test_the_count_sets_the_limit(share: float, entries: int, would_delete: int,
                                  dry_run: bool, limit: int | None) -> None:
    bound = DeleteBound(share)
    bound.begin(entries)
    bound.counted(would_delete, dry_run)
    assert bound.limit == limit


def test_without_a_bound_nothing_is_counted() -> None:
    bound = DeleteBound(1.0)
    assert bound.begin(1000) is False and bound.limit == -1
    assert DeleteBound(0.5).begin(1000) is True


def test_a_refusal_rechecks_doubling_and_a_full_sync_within_the_bound_clears_it() -> None:
    bound = DeleteBound(0.5)
    waits = []
    for now in (0.0, 100.0, 300.0, 700.0, 2000.0, 5000.0, 9000.0):
        bound.begin(1000)
        bound.counted(1500, dry_run=False)
        bound.full_done(now, "web1")
        assert bound.refused == (1500, 1000)
        assert bound.recheck_at is not None
        waits.append(bound.recheck_at - now)
        assert not bound.recheck_due(now) and bound.recheck_due(bound.recheck_at)
    assert waits == [RECHECK_FIRST, 120.0, 240.0, 480.0, RECHECK_MAX, RECHECK_MAX, RECHECK_MAX]
    bound.begin(1000)
    bound.counted(10, dry_run=False)
    bound.full_done(9500.0, "web1")
    assert (bound.refused, bound.recheck_at, bound.recheck_delay) == (None, None, RECHECK_FIRST)
