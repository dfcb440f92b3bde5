"""MovePairing: a tree that left is kept by its watch descriptors, never by its old name."""

from __future__ import annotations

import pytest

from inosync.source.move_pairing import TOUCHED_LIMIT, Leaving, MovePairing

WINDOW = 0.05


def _pairing_with_d() -> MovePairing:
    pairing = MovePairing()
    pairing.leave(7, Leaving("d", True, 10.0, {3: "", 4: "sub", 5: "sub/deep"},
                             {"sub/log": (9.0, 9.5)}))
    return pairing


def test_arrive_hands_back_every_carried_watch_and_write() -> None:
    pairing = _pairing_with_d()
    leaving = pairing.arrive(7)
    assert leaving is not None
    assert leaving.watches == {3: "", 4: "sub", 5: "sub/deep"}
    assert leaving.writes == {"sub/log": (9.0, 9.5)}
    assert pairing.carrier(4) is None and not pairing


@pytest.mark.parametrize(("now", "expired"), [(10.0, []), (10.049, []), (10.05, ["d"]),
                                               (11.0, ["d"])])
def test_expiry_follows_the_pairing_window(now: float, expired: list[str]) -> None:
    pairing = _pairing_with_d()
    assert [leaving.path for leaving in pairing.expired(now, WINDOW)] == expired
    assert pairing.deadline(WINDOW) == (None if expired else pytest.approx(10.05))


def test_a_walk_meeting_a_carried_watch_takes_it_back_and_names_the_top() -> None:
    pairing = _pairing_with_d()
    hit = pairing.found(4)
    assert hit is not None and hit[0] == 7 and hit[2] == "sub"
    assert pairing.found(4) is None  # only once
    leaving = pairing.arrive(7)
    assert leaving is not None and 4 not in leaving.watches
    assert pairing.found(99) is None  # never carried


@pytest.mark.parametrize(("events", "landed"), [
    ([], []),
    ([(3, "new")], ["x/new"]),
    ([(4, "f"), (5, "")], ["x/sub/deep", "x/sub/f"]),  # "" is the directory itself
    ([(99, "f")], []),  # a watch nobody carries
])
def test_events_inside_a_travelling_tree_land_below_its_new_name(
        events: list[tuple[int, str]], landed: list[str]) -> None:
    pairing = _pairing_with_d()
    for wd, name in events:
        assert pairing.event_inside(wd, name) == (wd != 99)
    leaving = pairing.arrive(7)
    assert leaving is not None and leaving.landed_paths("x") == landed


def test_too_many_events_inside_resync_the_whole_tree() -> None:
    pairing = _pairing_with_d()
    for index in range(TOUCHED_LIMIT + 1):
        pairing.event_inside(4, f"f{index}")
    leaving = pairing.arrive(7)
    assert leaving is not None and leaving.landed_paths("x") == ["x"]


def test_a_watch_the_kernel_dropped_is_no_longer_carried() -> None:
    pairing = _pairing_with_d()
    pairing.watch_gone(5)
    leaving = pairing.arrive(7)
    assert leaving is not None and leaving.watches == {3: "", 4: "sub"}


def test_a_watch_carried_again_by_a_later_move_belongs_to_that_move_only() -> None:
    pairing = _pairing_with_d()
    pairing.leave(8, Leaving("e", True, 10.01, {4: ""}))
    first, second = pairing.arrive(7), pairing.arrive(8)
    assert first is not None and 4 not in first.watches
    assert second is not None and second.watches == {4: ""}


def test_entries_below_a_renamed_directory_follow_it_and_clear_returns_carried() -> None:
    pairing = MovePairing()
    pairing.leave(1, Leaving("a/b", True, 0.0, {10: ""}))
    pairing.leave(2, Leaving("ab", False, 0.0))
    pairing.rebase("a", "z")
    assert sorted(pairing.paths()) == ["ab", "z/b"]
    assert pairing.clear() == [10] and not pairing
