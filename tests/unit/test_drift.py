"""Drift from rsync's itemized dry run: kinds, and changes that are not drift."""

from __future__ import annotations

import pytest

from inosync.drift import count_by_kind, find_drift, kind_of, summary
from inosync.rsync import Itemized, parse_itemized

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
