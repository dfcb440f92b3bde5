"""Which backend watches the tree: what `watcher` asks for, and the fallbacks, with both
backends replaced by stand-ins that succeed or fail as told."""

from __future__ import annotations

import logging

import pytest

from inosync.rsync.excludes import ExcludeMatcher
from inosync.source import backend_check, backends
from inosync.source.facts import Dirty, WatchLimitError
from inosync.source.fanotify import FanotifyUnavailable
from inosync.source.unwatched import Unwatched


class StandIn:
    """A backend that watches, or fails as `fails` says (at construction or watch_tree)."""

    made: list[StandIn] = []
    fails: dict[str, Exception] = {}

    def __init__(self, wpath: str, excludes: ExcludeMatcher, progress: object = None) -> None:
        if (error := self.fails.get(f"{self.kind} init")) is not None:
            raise error
        self.closed = False
        self.unwatched = Unwatched()
        StandIn.made.append(self)

    def watch_tree(self) -> int:
        if (error := self.fails.get(f"{self.kind} walk")) is not None:
            raise error
        return 1

    def close(self) -> None:
        self.closed = True

    def read(self) -> list[object]:
        return [Dirty("read last")]

    def unsettled(self) -> list[str]:
        return ["being written"]


class FakeInotify(StandIn):
    kind = "inotify"


class FakeFanotify(StandIn):
    kind = "fanotify"


LIMIT = WatchLimitError("/srv/www: out of inotify watches")
NO_CAP = FanotifyUnavailable("fanotify_mark: Operation not permitted - needs CAP_SYS_ADMIN")


@pytest.fixture(autouse=True)
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "Watcher", FakeInotify)
    monkeypatch.setattr(backends, "FanotifyWatcher", FakeFanotify)
    monkeypatch.setattr(backends, "watch_limit", lambda: 8192)
    StandIn.made, StandIn.fails = [], {}


def _open(choice: str) -> object:
    return backends.open_watcher("/srv/www", ExcludeMatcher(()), choice)


@pytest.mark.parametrize(("choice", "fails", "used", "closed"), [
    ("inotify", {}, "inotify", []),
    ("auto", {}, "inotify", []),
    ("fanotify", {}, "fanotify", []),
    ("fanotify", {"fanotify init": NO_CAP}, "inotify", []),
    ("auto", {"inotify walk": LIMIT}, "fanotify", ["inotify"]),
])
def test_each_choice_and_its_fallback(choice: str, fails: dict[str, Exception], used: str,
                                      closed: list[str]) -> None:
    StandIn.fails = fails
    assert type(_open(choice)).kind == used  # type: ignore[attr-defined]
    assert [w.kind for w in StandIn.made if w.closed] == closed  # type: ignore[attr-defined]


def test_fanotify_unavailable_is_one_warning_naming_wpath_and_why(
        caplog: pytest.LogCaptureFixture) -> None:
    StandIn.fails = {"fanotify init": NO_CAP}
    with caplog.at_level(logging.INFO, "inosync"):
        _open("fanotify")
    assert [r.getMessage() for r in caplog.records] == [
        f"fanotify unavailable on /srv/www ({NO_CAP}): watching with inotify"]


def test_the_watch_limit_stands_where_fanotify_cannot_take_over() -> None:
    StandIn.fails = {"inotify walk": LIMIT, "fanotify init": NO_CAP}
    with pytest.raises(WatchLimitError, match=r"out of inotify watches; fanotify cannot take "
                                              r"over either \(fanotify_mark: .*CAP_SYS_ADMIN\)"):
        _open("auto")
    StandIn.fails = {"inotify walk": LIMIT}
    with pytest.raises(WatchLimitError, match=r"^/srv/www: out of inotify watches$"):
        _open("inotify")  # asked for inotify alone: no hand-over


def test_taking_over_reads_what_inotify_still_has_and_what_it_could_not_watch() -> None:
    old = FakeInotify("/srv/www", ExcludeMatcher(()))
    old.unwatched.failed("big/part", "inotify watch limit reached", 1.0)
    new, facts = backends.take_over(old, "/srv/www", ExcludeMatcher(()))  # type: ignore[arg-type]
    assert type(new).kind == "fanotify"  # type: ignore[attr-defined]
    assert facts == [Dirty("read last"), Dirty("big/part"), Dirty("being written")]
    assert not old.closed  # the daemon unregisters it from its selector first


@pytest.mark.parametrize(("choice", "short", "problem", "warning"), [
    ("inotify", "", "", ""),
    ("inotify", "SHORT", "", "SHORT"),
    ("auto", "", "NO", ""),  # inotify holds it: fanotify is not even tried
    ("auto", "SHORT", "", 'SHORT; with watcher = "auto" the daemon watches with fanotify '
                          "instead, which works here (as a service it needs the drop-in in "
                          "inosync(8), WATCHING WITH FANOTIFY)"),
    ("auto", "SHORT", "NO", "SHORT; fanotify cannot take over either (NO)"),
    ("fanotify", "SHORT", "", ""),
    ("fanotify", "", "NO", "watcher: fanotify unavailable on /srv/www (NO): the daemon would "
                           "watch with inotify"),
    ("fanotify", "SHORT", "NO", "watcher: fanotify unavailable on /srv/www (NO): the daemon "
                                "would watch with inotify; SHORT"),
])
def test_check_says_which_backend_will_watch(monkeypatch: pytest.MonkeyPatch, choice: str,
                                             short: str, problem: str, warning: str) -> None:
    monkeypatch.setattr(backend_check, "watch_shortage", lambda wpath, excludes: short)
    monkeypatch.setattr(backend_check, "fanotify_problem", lambda wpath, excludes: problem)
    assert backend_check.watcher_warning("/srv/www", ExcludeMatcher(()), choice) == warning
