"""Looking at the source as it is now: listable paths and excluded paths below a rename."""

from __future__ import annotations

from pathlib import Path

from inosync.source.tree import excluded_below, listable, needs_move_check


def test_paths_below_what_is_now_a_file_become_that_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a file where a dir was")
    (tmp_path / "d" / "sub").mkdir(parents=True)
    paths = ["a/x/f", "a/y", "d/sub/new", "gone/deep/f", "top"]
    assert sorted(listable(str(tmp_path), paths)) == ["a", "d/sub/new", "gone/deep/f", "top"]


def test_excluded_paths_below_a_renamed_dir_are_found(tmp_path: Path) -> None:
    (tmp_path / "new" / "cache").mkdir(parents=True)
    (tmp_path / "new" / "cache" / "big").write_text("x")
    (tmp_path / "new" / "keep").mkdir()
    (tmp_path / "new" / "keep" / "a.tmp").write_text("x")
    (tmp_path / "new" / "keep" / "b.txt").write_text("x")
    found = excluded_below(str(tmp_path), ("*.tmp", "/new/cache/"), "new")
    assert sorted(found) == ["cache", "keep/a.tmp"]
    assert excluded_below(str(tmp_path), (), "new") == []


def test_only_patterns_with_an_inner_slash_need_a_recheck_after_rename() -> None:
    assert not needs_move_check(("*.tmp", "cache/"))
    assert needs_move_check(("/cache/",)) and needs_move_check(("tmp/**",))
