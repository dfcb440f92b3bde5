"""The delete bound, all or nothing: what the count allows, what follows a full sync that
held its deletions back, refusals, and the recheck."""

from __future__ import annotations

import pytest

from inosync.node.delete_bound import RECHECK_FIRST, RECHECK_MAX, DeleteBound
from inosync.rsync.outcomes import Outcome


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
    bound = DeleteBound(share, lambda: entries)
    bound.begin()
    bound.counted(would_delete, dry_run)
    assert bound.limit == limit


def test_without_a_bound_nothing_is_counted() -> None:
    bound = DeleteBound(1.0, lambda: 1000)
    assert bound.begin() is False and bound.limit == -1 and not bound.holding
    assert DeleteBound(0.5, lambda: 1000).begin() is True


def test_a_bounded_full_sync_first_holds_every_deletion_back() -> None:
    bound = DeleteBound(0.5, lambda: 1000)
    assert bound.begin() and bound.holding and bound.limit == 0
    bound.counted(3, dry_run=False)  # a reload's counting pass decides instead
    assert not bound.holding and bound.limit == 1000


@pytest.mark.parametrize(("outcome", "held_back", "step", "limit"), [
    (Outcome.OK, None, "done", 1000),  # nothing to delete: one walk, the common case
    (Outcome.OK, 0, "done", 1000),
    (Outcome.GUARD, 10, "again", 1000),  # within the bound: a second run deletes
    (Outcome.OK, 10, "again", 1000),  # an rsync daemon says so but exits 0
    (Outcome.GUARD, 1000, "again", 1000),
    (Outcome.GUARD, 1001, "done", None),  # over it: refused, and all was sent already
    (Outcome.OK, 1001, "done", None),
    (Outcome.PARTIAL, 10, "again", 1000),  # failed paths (a dir in a file's way) go again
    (Outcome.PARTIAL, 1001, "again", None),  # ... deleting nothing
    (Outcome.PARTIAL, None, "failed", 0),  # a partial full sync, as any
    (Outcome.PARTIAL, 0, "failed", 0),
    (Outcome.TRANSIENT, 10, "failed", 0),
    (Outcome.ERROR, None, "failed", 0),
    (Outcome.GUARD, None, "count", 0),  # stopped but not said how many: count them
])
def test_what_follows_a_full_sync_that_held_its_deletions_back(
        outcome: Outcome, held_back: int | None, step: str, limit: int | None) -> None:
    bound = DeleteBound(0.5, lambda: 1000)
    bound.begin()
    assert bound.held(outcome, held_back, dry_run=False) == step
    assert bound.limit == limit
    assert bound.holding is (step in ("failed", "count"))


def test_a_dry_run_shows_the_deleting_run_and_refuses_nothing() -> None:
    bound = DeleteBound(0.5, lambda: 10)
    bound.begin()
    assert bound.held(Outcome.OK, None, dry_run=True) == "again" and bound.limit == 10


def test_a_refusal_rechecks_doubling_and_a_full_sync_within_the_bound_clears_it() -> None:
    bound = DeleteBound(0.5, lambda: 1000)
    waits = []
    for now in (0.0, 100.0, 300.0, 700.0, 2000.0, 5000.0, 9000.0):
        bound.begin()
        bound.counted(1500, dry_run=False)
        bound.full_done(now, "web1")
        assert bound.refused == (1500, 1000)
        assert bound.recheck_at is not None
        waits.append(bound.recheck_at - now)
        assert not bound.recheck_due(now) and bound.recheck_due(bound.recheck_at)
    assert waits == [RECHECK_FIRST, 120.0, 240.0, 480.0, RECHECK_MAX, RECHECK_MAX, RECHECK_MAX]
    bound.begin()
    bound.counted(10, dry_run=False)
    bound.full_done(9500.0, "web1")
    assert (bound.refused, bound.recheck_at, bound.recheck_delay) == (None, None, RECHECK_FIRST)


def test_the_source_is_counted_for_the_verdict_not_when_the_sync_starts() -> None:
    """The first run holds every deletion back and needs no count, so the tree is counted
    while it sends; the verdict takes the count as it is then."""
    counts = iter([1000, 40])
    asked: list[int] = []

    def entries() -> int:
        asked.append(1)
        return next(counts)

    bound = DeleteBound(0.5, entries)
    assert bound.begin() and bound.limit == 0 and not asked
    assert bound.held(Outcome.GUARD, 30, dry_run=False) == "again" and bound.limit == 1000
    bound.full_done(0.0, "web1")
    bound.begin()
    assert bound.held(Outcome.GUARD, 41, dry_run=False) == "done" and bound.limit is None
    assert len(asked) == 2 and bound.full_entries == 40
