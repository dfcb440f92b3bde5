"""Unwatched: directories a watch failed for, kept by path until a watch works."""

from __future__ import annotations

import pytest

from inosync.report.node_facts import derive_state
from inosync.report.views import Instance, describe_unwatched, metrics_text, state_dict
from inosync.source.unwatched import RETRY_SECONDS, Unwatched


def _with(*paths: str) -> Unwatched:
    unwatched = Unwatched()
    for path in paths:
        unwatched.failed(path, "Permission denied", 100.0)
    return unwatched


def test_a_failure_is_news_once_per_reason_and_schedules_one_retry() -> None:
    unwatched = Unwatched()
    assert unwatched.failed("a", "Permission denied", 100.0)
    assert not unwatched.failed("a", "Permission denied", 105.0)
    assert unwatched.failed("a", "inotify watch limit reached", 106.0)
    assert unwatched.retry_at == 100.0 + RETRY_SECONDS


@pytest.mark.parametrize(("now", "due", "next_at"), [
    (100.0, [], 100.0 + RETRY_SECONDS),
    (100.0 + RETRY_SECONDS, ["a", "b/c"], 100.0 + 2 * RETRY_SECONDS),
])
def test_the_periodic_retry_names_every_path_when_due(
        now: float, due: list[str], next_at: float) -> None:
    unwatched = _with("b/c", "a")
    assert unwatched.due(now) == due
    assert unwatched.retry_at == next_at


@pytest.mark.parametrize(("top", "below"), [
    ("", ["a", "a/b", "ab"]), ("a", ["a", "a/b"]), ("a/b", ["a/b"]), ("x", []),
])
def test_what_an_attribute_change_retries(top: str, below: list[str]) -> None:
    assert _with("a", "a/b", "ab").at_or_below(top) == below


def test_the_last_one_watched_stops_the_retries() -> None:
    unwatched = _with("a", "a/b")
    unwatched.watched("a")
    assert unwatched.retry_at is not None
    unwatched.forget_below("a")
    assert not unwatched and unwatched.retry_at is None


def test_entries_travel_with_a_directory_that_moves_and_leave_the_name_free() -> None:
    unwatched = _with("d", "d/x", "dd")
    taken = unwatched.detach("d")
    assert taken == {"": "Permission denied", "x": "Permission denied"}
    assert unwatched.at_or_below("") == ["dd"]
    unwatched.attach("e", taken, 200.0)
    assert unwatched.at_or_below("") == ["dd", "e", "e/x"]


def test_a_node_is_never_in_sync_while_part_of_the_source_is_unwatched() -> None:
    quiet = dict(paused=False, failing=False, refused=False, started=True, sending=False,
                 pending=False)
    assert derive_state(**quiet) == "in sync"
    assert derive_state(**quiet, incomplete=True) == "incomplete"
    assert derive_state(**{**quiet, "failing": True}, incomplete=True) == "failing"


def test_every_view_says_what_is_not_watched() -> None:
    instance = Instance("www", "/etc/inosync/www.toml", "/srv/www", 1, 0.0,
                        unwatched=(("a", "Permission denied"), ("b", "Permission denied"),
                                   ("c", "Permission denied"), ("d", "Permission denied")),
                        unwatched_count=5)
    assert describe_unwatched(instance) == (
        "5 directories not watched, their changes not mirrored: a (Permission denied), "
        "b (Permission denied), c (Permission denied) and 2 more")
    assert state_dict(instance, [], 0.0)["unwatched"]["count"] == 5
    assert ('inosync_unwatched_directories{inosync_instance="www"} 5'
            in metrics_text(instance, [], 0.0))
    assert describe_unwatched(Instance("www", "", "", 1, 0.0)) == ""
