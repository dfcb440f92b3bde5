"""keep_deleted's names and commands: stamps that sort by age, patterns that match exactly
the stamps at or after a cutoff (so pruning deletes only older ones), where each kind of
node keeps, and reading `--list-only` output for `restore`."""

from __future__ import annotations

import fnmatch
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inosync.config.load import validate
from inosync.rsync import kept
from inosync.rsync.backup import (
    KEPT_DIR,
    STAMP_RE,
    STAMP_SHAPE,
    backup_options,
    kept_dir,
    kept_filter,
    kept_root,
    newer_patterns,
    stamp,
)

RAW = {"wpath": "/srv/www", "rpath": "/srv/mirror", "keep_deleted": "7d",
       "rnodes": ["", "deploy@web1:", "web1::www", "rsync://web1:8873/www"]}
CFG = validate(RAW, "/etc/inosync/www.toml", exists=lambda p: True)
WALLS = st.floats(min_value=946684800, max_value=4102444799, allow_nan=False)  # 2000-2099


def rsync_match(pattern: str, name: str) -> bool:
    """rsync's wildcards on one path component: *, ? and [a-b] as fnmatch has them."""
    return fnmatch.fnmatchcase(name, pattern)


@given(WALLS)
def test_a_stamp_has_its_shape_and_the_rsync_pattern_matches_it(wall: float) -> None:
    name = stamp(wall)
    assert STAMP_RE.fullmatch(name) and rsync_match(STAMP_SHAPE, name)
    assert not rsync_match(STAMP_SHAPE, name + "x") and not rsync_match(STAMP_SHAPE, "NOTES")


@given(WALLS, WALLS)
def test_stamps_sort_as_their_times_do(a: float, b: float) -> None:
    if int(a * 1000) != int(b * 1000):
        assert (stamp(a) < stamp(b)) == (a < b)


@given(WALLS, WALLS)
def test_the_newer_patterns_match_exactly_the_stamps_at_or_after_the_cutoff(
        cutoff: float, other: float) -> None:
    name, limit = stamp(other), stamp(cutoff)
    kept_by_rule = any(rsync_match(p, name) for p in newer_patterns(limit))
    assert kept_by_rule == (name >= limit), (name, limit)


def test_the_newer_patterns_hold_no_wildcard_but_their_own() -> None:
    for pattern in newer_patterns("2026-12-03T164158.123Z"):
        assert "/" not in pattern and pattern.count("*") <= 1


@pytest.mark.parametrize(("index", "root"), [
    (0, "/srv/mirror/.inosync-kept"),  # local
    (1, "/srv/mirror/.inosync-kept"),  # ssh with a shell
    (2, "/srv/mirror/.inosync-kept"),  # rsync daemon: absolute paths are the module's
    (3, "/srv/mirror/.inosync-kept"),
])
def test_where_each_kind_of_node_keeps(index: int, root: str) -> None:
    assert kept_root(CFG.nodes[index], CFG.rpath) == root


def test_an_rrsync_node_keeps_at_the_top_of_its_own_directory() -> None:
    from inosync.node.restricted import rooted
    node = rooted(CFG.nodes[1])
    assert kept_root(node, CFG.rpath) == "/" + KEPT_DIR
    assert kept.prune(CFG, node, None, 0.0, "/tmp/e").argv[-1] == "deploy@web1:" + KEPT_DIR + "/"


def test_every_sync_leaves_the_kept_directory_alone_and_changing_ones_keep() -> None:
    assert kept_filter(CFG) == ["--exclude=/.inosync-kept/"]
    wall = 1796316511.5
    assert backup_options(CFG, CFG.nodes[0], wall) == [
        "--backup", f"--backup-dir=/srv/mirror/.inosync-kept/{stamp(wall)}"]
    assert kept_dir(CFG, CFG.nodes[0], wall) == f"/srv/mirror/.inosync-kept/{stamp(wall)}"
    off = validate(dict(RAW, keep_deleted=0), "f", exists=lambda p: True)
    assert kept_filter(off) == [] and backup_options(off, off.nodes[0], wall) == []
    assert kept_dir(off, off.nodes[0], wall) == ""


def test_pruning_deletes_old_stamps_only_from_an_empty_directory() -> None:
    wall = 1796316511.0
    argv = kept.prune(CFG, CFG.nodes[1], "/run/s.sock", wall, "/tmp/empty").argv
    filters = [a for a in argv if a.startswith("--filter=")]
    cutoff = stamp(wall - CFG.keep_deleted)
    assert filters[0] == f"--filter=- /{cutoff}"
    assert filters[-2:] == [f"--filter=+ /{STAMP_SHAPE}/***", "--filter=- *"]
    assert "--delete" in argv and "--backup" not in argv and "-a" not in argv
    assert argv[-2:] == ("/tmp/empty/", "deploy@web1:/srv/mirror/.inosync-kept/")
    assert "--chmod=D0700" in argv


def test_restore_reads_only_the_copies_of_the_path_itself() -> None:
    listing = (
        b"drwx------          4,096 2026/12/03 16:41:54 .\n"
        b"drwxr-xr-x          4,096 2026/12/03 16:41:54 2026-12-03T164154.000Z\n"
        b"-rw-r--r--             12 2026/12/03 16:41:54 2026-12-03T164154.000Z/a b/c.html\n"
        b"-rw-r--r--             12 2026/12/03 16:41:54 2026-12-01T000000.000Z/a b/c.html\n"
        b"-rw-r--r--             12 2026/12/03 16:41:54 2026-12-02T000000.000Z/a b/c.htmlx\n"
        b"-rw-r--r--             12 2026/12/03 16:41:54 NOTES/a b/c.html\n")
    assert kept.copies_in(listing, "a b/c.html") == ["2026-12-01T000000.000Z",
                                                      "2026-12-03T164154.000Z"]


def test_the_listing_filters_escape_wildcards_in_the_path() -> None:
    argv = kept.list_copies(CFG, CFG.nodes[0], "x/*[y]?").argv
    assert "--filter=+ /*/x/" in argv and "--filter=+ /*/x/\\*\\[y]\\?" in argv


def test_restore_targets_stay_below_the_top() -> None:
    assert kept.restore_targets("/srv/www", "a/b.html", None) == ("/srv/www/a/b.html",
                                                                   "/srv/www/a")
    assert kept.restore_targets("/srv/www", "b.html", "/tmp/r") == ("/tmp/r/b.html", "/tmp/r")


def test_random_stamps_prune_like_a_sort_would() -> None:
    rng = random.Random(7)
    walls = [rng.uniform(1.6e9, 1.9e9) for _ in range(300)]
    cutoff = stamp(1.75e9)
    patterns = newer_patterns(cutoff)
    survivors = sorted(stamp(w) for w in walls if any(rsync_match(p, stamp(w))
                                                     for p in patterns))
    assert survivors == sorted(s for s in map(stamp, walls) if s >= cutoff)
