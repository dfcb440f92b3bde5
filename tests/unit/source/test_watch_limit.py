"""Counting the watches a tree needs before a start, and the warning `check` gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from inosync.rsync.excludes import ExcludeMatcher
from inosync.source import watch_limit as watchlimit


def _tree(root: Path) -> None:
    for rel in ("a/b/c", "a/d", "e", "cache/x/y", "e/f.tmp/g"):
        (root / rel).mkdir(parents=True)
    for rel in ("a/file", "a/b/c/file", "top", "e/f.tmp/g/file"):
        (root / rel).write_text("x")
    (root / "link").symlink_to("a")


@pytest.mark.parametrize("trust_links", [True, False])
def test_directories_are_counted_with_excludes_as_the_watcher_skips_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trust_links: bool) -> None:
    _tree(tmp_path)
    # Both ways of counting: link counts (tmpfs, ext4) and listing every directory (btrfs).
    monkeypatch.setattr(watchlimit, "_links_count_subdirs", lambda path: trust_links)
    assert watchlimit.count_dirs(str(tmp_path), ExcludeMatcher(())) == 11
    excludes = ExcludeMatcher(("/cache/", "*.tmp"))
    assert watchlimit.count_dirs(str(tmp_path), excludes) == 6  # root, a, a/b, a/b/c, a/d, e
    assert watchlimit.count_entries(str(tmp_path), ExcludeMatcher(())) == 15


def test_link_counts_are_trusted_only_where_they_count_subdirectories(tmp_path: Path) -> None:
    _tree(tmp_path)
    # tmp_path lives on tmpfs or ext4 here; a directory that holds a file is no evidence
    # either way, but the answer must agree with what st_nlink says.
    subdirs = sum(1 for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink())
    expected = tmp_path.stat().st_nlink == 2 + subdirs
    assert watchlimit._links_count_subdirs(str(tmp_path)) is expected
    assert watchlimit._links_count_subdirs(str(tmp_path / "missing")) is False


def test_check_warns_only_when_the_tree_needs_more_watches_than_allowed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path)
    monkeypatch.setattr(watchlimit, "watch_limit", lambda: 10)
    warning = watchlimit.watch_shortage(str(tmp_path), ExcludeMatcher(()))
    assert warning.startswith(f"{tmp_path}: 11 directories need one inotify watch each")
    assert "sysctl -w fs.inotify.max_user_watches=65536" in warning
    assert "/etc/sysctl.d/" in warning
    monkeypatch.setattr(watchlimit, "watch_limit", lambda: 11)
    assert watchlimit.watch_shortage(str(tmp_path), ExcludeMatcher(())) == ""
    monkeypatch.setattr(watchlimit, "watch_limit", lambda: None)
    assert watchlimit.watch_shortage(str(tmp_path), ExcludeMatcher(())) == ""
