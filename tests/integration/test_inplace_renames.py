"""Renames rebuilt by rsync on the node never join two names into one file.

A node that cannot run mv (an rsync daemon, an rrsync key) rebuilds a renamed path from
its old copy. The rebuilt copy must be a file of its own, never a hard link to the old
one: rsync changes an existing file in place when only its attributes differ, and for
every write with --inplace in extra (in any spelling), so the next change to one name
would change the other too, and a verification "repairing" one would break the other.
"""

from __future__ import annotations

import os
import shutil

import pytest
from helpers import append, assert_trees_equal, write

YESTERDAY = b"yesterday: " + b"y" * 5000 + b"\n"
TODAY = b"today\n"

# (node kind, extra): a daemon with the option as written in rsync's manual, and one with
# it passed to the node's rsync alone; an rrsync key with the latter.
IN_PLACE_NODES = [("rsyncd", "--inplace"), ("rsyncd", "--numeric-ids -M--inplace"),
                  ("restricted", "-M--inplace")]


def node_file(m, rel: str) -> os.stat_result:  # type: ignore[no-untyped-def]
    return os.lstat(m.d(rel))


def read_node(m, rel: str) -> bytes:  # type: ignore[no-untyped-def]
    with open(m.d(rel), "rb") as f:
        return f.read()


def assert_separate_files(m, *rels: str) -> None:  # type: ignore[no-untyped-def]
    stats = {rel: node_file(m, rel) for rel in rels}
    linked = {rel: st.st_nlink for rel, st in stats.items() if st.st_nlink != 1}
    assert not linked, f"hard-linked on the node (st_nlink): {linked}"
    assert len({st.st_ino for st in stats.values()}) == len(rels), \
        f"one inode for several names on the node: { {r: s.st_ino for r, s in stats.items()} }"


@pytest.mark.parametrize("node_kind, extra", IN_PLACE_NODES)
def test_rotated_log_dir_keeps_yesterdays_log_on_the_node(mirror, node_kind, extra) -> None:
    """mv logs logs.1 && mkdir logs && echo today > logs/app.log"""
    m = mirror(extra=extra)
    write(m.src / "logs/app.log", YESTERDAY)
    write(m.src / "logs/other.log", b"unchanged\n")
    m.start()
    m.converge()
    os.rename(m.src / "logs", m.src / "logs.1")
    os.mkdir(m.src / "logs")
    write(m.src / "logs/app.log", TODAY)
    m.converge(what="log rotation")
    assert read_node(m, "logs.1/app.log") == YESTERDAY
    assert read_node(m, "logs/app.log") == TODAY
    assert_separate_files(m, "logs.1/app.log", "logs/app.log", "logs.1/other.log")
    assert_trees_equal(m.src, m.dst)


@pytest.mark.parametrize("node_kind, extra", IN_PLACE_NODES)
def test_a_write_into_the_renamed_copy_leaves_the_old_name_alone(
        mirror, node_kind, extra) -> None:
    """The old name re-created identical (same size and mtime: rsync leaves it as it is on
    the node), then the renamed copy is appended to."""
    m = mirror(extra=extra)
    write(m.src / "logs/app.log", YESTERDAY)
    m.start()
    m.converge()
    os.rename(m.src / "logs", m.src / "logs.1")
    shutil.copytree(m.src / "logs.1", m.src / "logs")  # copy2: mtimes to the nanosecond
    m.converge(what="rename, then a copy back at the old name")
    assert_separate_files(m, "logs.1/app.log", "logs/app.log")
    append(m.src / "logs.1/app.log", b"a late line\n")
    m.converge(what="a write into the renamed copy")
    assert read_node(m, "logs/app.log") == YESTERDAY
    assert read_node(m, "logs.1/app.log") == YESTERDAY + b"a late line\n"
    assert_trees_equal(m.src, m.dst)


@pytest.mark.parametrize("node_kind, extra", [IN_PLACE_NODES[0], IN_PLACE_NODES[2]])
def test_a_file_moved_away_and_recreated_keeps_its_content_on_the_node(
        mirror, node_kind, extra) -> None:
    """A file moved to another directory under its own name, then a new one at the old
    name: the moved file must not be the one the new content is written into."""
    m = mirror(extra=extra)
    write(m.src / "logs/app.log", YESTERDAY)
    write(m.src / "archive/keep", b"k")
    m.start()
    m.converge()
    os.rename(m.src / "logs/app.log", m.src / "archive/app.log")
    write(m.src / "logs/app.log", TODAY)
    m.converge(what="file moved away and re-created")
    assert read_node(m, "archive/app.log") == YESTERDAY
    assert read_node(m, "logs/app.log") == TODAY
    assert_separate_files(m, "archive/app.log", "logs/app.log")
    assert_trees_equal(m.src, m.dst)


@pytest.mark.parametrize("node_kind", ["rsyncd", "restricted"])
def test_a_chmod_of_the_name_taken_again_leaves_the_renamed_copy_alone(
        mirror, node_kind) -> None:
    """No --inplace at all: `mv conf conf.old && cp -a conf.old conf && chmod 600
    conf/secret` must not make the node's conf.old/secret mode 600."""
    m = mirror()
    write(m.src / "conf/secret", b"s" * 3000, mode=0o644)
    m.start()
    m.converge()
    os.rename(m.src / "conf", m.src / "conf.old")
    shutil.copytree(m.src / "conf.old", m.src / "conf")
    os.chmod(m.src / "conf/secret", 0o600)
    m.converge(what="rename, copy back, chmod")
    assert node_file(m, "conf.old/secret").st_mode & 0o777 == 0o644
    assert node_file(m, "conf/secret").st_mode & 0o777 == 0o600
    assert_separate_files(m, "conf.old/secret", "conf/secret")
    assert_trees_equal(m.src, m.dst)
