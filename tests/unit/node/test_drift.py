"""Drift from rsync's itemized dry run: kinds, and changes that are not drift."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inosync.changes import is_under
from inosync.node.drift import Drift, count_by_kind, find_drift, kind_of, summary
from inosync.rsync.output import Itemized, parse_itemized

DRY_RUN = b"""\
*deleting   extra
.d..t...... ./
>f.st...... d/f1
>f+++++++++ d/f2
.f...p..... d/f3
cd+++++++++ x/
>f+++++++++ x/a
.d..t...... d/
cL+++++++++ link
.L..t...... other-link
>f..t...... touched
odd\\#012name
>f+++++++++ new\\#012line

sent 138 bytes  received 136 bytes  548.00 bytes/sec
total size is 10  speedup is 0.04 (DRY RUN)
"""


def test_itemized_lines_are_parsed_and_escapes_decoded() -> None:
    items = parse_itemized(DRY_RUN)
    assert [i.path for i in items] == ["extra", ".", "d/f1", "d/f2", "d/f3", "x", "x/a", "d",
                                       "link", "other-link", "touched",
                                       "new\nline"]
    assert items[0].is_deletion and not items[1].is_deletion


@pytest.mark.parametrize("change, kind", [
    ("*deleting", "extra"), (">f+++++++++", "missing"), ("cd+++++++++", "missing"),
    (">f.st......", "content"), (">f..t......", "content"), ("cL.c.......", "content"),
    (".f...p.....", "attributes"), (".f....og...", "attributes"), (".d..t......", None),
    (".d...p.....", "attributes"), (".L..t......", "attributes"), (".f.........", None),
])
def test_kind_of_each_change(change: str, kind: str | None) -> None:
    assert kind_of(Itemized(change, "p")) == kind


def test_directory_times_are_not_counted_and_kinds_add_up() -> None:
    drift = find_drift(parse_itemized(DRY_RUN))
    assert count_by_kind(drift) == {"missing": 5, "extra": 1, "content": 2, "attributes": 2}
    assert summary(drift) == "10 paths (5 missing, 1 extra, 2 content, 2 attributes)"


def test_changes_made_while_comparing_are_not_drift() -> None:
    drift = find_drift(parse_itemized(DRY_RUN), changed=["d/f1", "x"])
    assert {d.path for d in drift} == {"extra", "d/f2", "d/f3", "link",
                                       "other-link", "touched", "new\nline"}
    assert find_drift(parse_itemized(DRY_RUN), changed=[""]) == []
    assert [d.path for d in find_drift(parse_itemized(DRY_RUN), changed=["d/f2/below"])
            if d.path.startswith("d/")] == ["d/f1", "d/f3"]


LATIN1 = os.fsdecode(b"caf\xe9")  # a name that is not UTF-8, as the watcher holds it


@pytest.mark.parametrize("path, changed, left_out", [
    ("a/b", ["a/b"], True),                       # the path itself changed
    ("a/b/c", ["a/b"], True),                     # below a change
    ("a", ["a/b/c"], True),                       # above a change: a directory holding it
    (".", ["deep/down/f"], True),                 # the root holds every change
    (".", [], False),
    ("a/bc", ["a/b"], False),                     # a prefix that is not a parent
    ("a/b", ["a/bc"], False),
    ("a/b", ["a/b.tmp", "a/b-old/x", "a/ba"], False),
    ("a/c", ["a/b"], False),                      # a sibling
    ("b", ["a/b"], False),                        # the same name elsewhere
    ("x/y", [""], True),                          # the root changed: everything did
    ("a b/c", ["a b"], True),                     # spaces are part of the name
    ("a", ["a b/c"], False),
    ("a b", ["a"], False),
    (" a", ["a"], False),
    ("new\nline", ["new"], False),                # newlines too
    ("new\nline/f", ["new\nline"], True),
    ("new", ["new\nline/f"], False),
    (LATIN1, [LATIN1 + "/x"], True),              # surrogateescape names compare as bytes
    (LATIN1 + "/x", [LATIN1], True),
    (LATIN1, ["caf\u00e9"], False),               # the UTF-8 spelling is another name
    (LATIN1 + "s", [LATIN1], False),
    ("a/b/c", ["a/b/c/d", "a", "z"], True),       # a change inside another one
    ("q", ["a", "a/b", "b", "c/d/e"], False),
])
def test_a_path_is_left_out_at_above_or_below_a_change(
        path: str, changed: list[str], left_out: bool) -> None:
    found = find_drift([Itemized(">f.st......", path)], changed)
    assert found == ([] if left_out else [Drift("" if path == "." else path, "content")])


def test_names_from_rsync_escapes_meet_the_watchers_names() -> None:
    """rsync writes unprintable bytes as \\#ooo; the watcher holds them as surrogates."""
    stdout = (b">f+++++++++ caf\\#351/f\n>f+++++++++ caf\\#351s\n"
              b">f+++++++++ two\\#012lines/f\n>f+++++++++ two\n.f...p..... a b/c\n")
    changed = [LATIN1, "two\nlines", "a b"]
    assert [d.path for d in find_drift(parse_itemized(stdout), changed)] == [
        LATIN1 + "s", "two"]


def _naive(path: str, changed: list[str]) -> bool:
    """The relation as its definition says it, pair by pair."""
    return any(is_under(path, c) or is_under(c, path) for c in changed)


_NAMES = st.lists(st.sampled_from(["a", "b", "a b", "a\nb", "ab", LATIN1, "caf\u00e9"]),
                  min_size=0, max_size=4).map("/".join)


@settings(max_examples=300, deadline=None)
@given(paths=st.lists(_NAMES, max_size=8), changed=st.lists(_NAMES, max_size=8))
def test_left_out_exactly_when_some_change_is_at_above_or_below(
        paths: list[str], changed: list[str]) -> None:
    items = [Itemized(">f.st......", p or ".") for p in paths]
    expected = [Drift("" if p in ("", ".") else p, "content") for p in paths
                if not _naive("" if p in ("", ".") else p, changed)]
    assert find_drift(items, changed) == expected
