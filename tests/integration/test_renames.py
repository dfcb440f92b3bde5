"""Moves and renames are replayed on the node without re-sending data."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from helpers import append, inodes, make_tree, wait_until, write

# A rename replayed on the node keeps the file's inode; a re-send writes a new file.
KEEPS_INODES = ("local", "ssh")
# Behind rrsync a directory is rebuilt from its old copy (--copy-dest, copied on the node,
# never linked), which is then deleted: new inodes, but no data travels.
SENDS_NO_DATA = (*KEEPS_INODES, "restricted")


@pytest.fixture(params=["local", "ssh", "rsyncd", "restricted"])
def node_kind(request: pytest.FixtureRequest) -> str:
    """Every kind of node, and an ssh node whose key is forced into rrsync."""
    return str(request.param)


def assert_inodes_kept(before: dict[bytes, int], after: dict[bytes, int],
                       moved: dict[bytes, bytes]) -> None:
    """`moved` maps old relpath -> new relpath on the node; each must keep its inode."""
    resent = [f"{old!r} -> {new!r}" for old, new in moved.items()
              if after.get(new) != before.get(old)]
    assert not resent, (f"{len(resent)} of {len(moved)} moved files were re-sent instead of "
                        "renamed on the node (new inode):\n  " + "\n  ".join(resent[:20]))


def moved_below(before: dict[bytes, int], old: bytes, new: bytes) -> dict[bytes, bytes]:
    return {p: new + p[len(old):] for p in before if p.startswith(old + b"/")}


def test_file_rename_is_replayed_without_resending_data(mirror, node_kind) -> None:
    m = mirror()
    write(m.src / "big.bin", os.urandom(2 << 20))
    write(m.src / "dir/other", b"x")
    m.start()
    m.converge()
    before = inodes(m.dst)
    os.rename(m.src / "big.bin", m.src / "renamed.bin")
    m.converge(what="file rename")
    os.rename(m.src / "renamed.bin", m.src / "dir/moved.bin")
    m.converge(what="file move to another dir")
    if node_kind in KEEPS_INODES:
        assert_inodes_kept(before, inodes(m.dst), {b"big.bin": b"dir/moved.bin"})


def test_dir_rename_is_replayed_without_resending_data(mirror, node_kind) -> None:
    m = mirror()
    make_tree(m.src / "site", dirs=10, files_per_dir=5, size=5000, depth=2)
    m.start()
    m.converge()
    before = inodes(m.dst)
    os.rename(m.src / "site", m.src / "site.old")
    m.converge(what="dir rename")
    os.makedirs(m.src / "archive/2024")
    os.rename(m.src / "site.old", m.src / "archive/2024/site")
    m.converge(what="dir move into a new dir")
    if node_kind in KEEPS_INODES:
        assert_inodes_kept(before, inodes(m.dst), moved_below(before, b"site",
                                                              b"archive/2024/site"))


@pytest.mark.slow
@pytest.mark.parametrize("node_kind", ["local", "ssh", "rsyncd", "restricted"])
def test_large_deep_tree_rename_sends_no_data(mirror, node_kind) -> None:
    m = mirror()
    nfiles = make_tree(m.src / "data", dirs=150, files_per_dir=20, size=4096, depth=2)
    for i in range(4):
        write(m.src / f"data/d{i}/big{i}.bin", os.urandom(4 << 20))
    data_bytes = nfiles * 4096 + 4 * (4 << 20)
    m.start(ready_timeout=120)
    m.converge(timeout=120, what="initial copy of the large tree")
    before = inodes(m.dst)
    d = m.daemon
    assert d is not None
    log_mark = len(d.log())
    os.rename(m.src / "data", m.src / "data-renamed")
    took = m.converge(what=f"rename of a tree of {nfiles} files")
    print(f"{node_kind}: rename of a {nfiles}-file tree converged in {took:.2f}s")
    if node_kind in KEEPS_INODES:
        assert_inodes_kept(before, inodes(m.dst), moved_below(before, b"data", b"data-renamed"))
    sent = sum(int(b) for b in re.findall(r"(\d+) bytes sent", d.log()[log_mark:]))
    print(f"{node_kind}: {sent} bytes sent for the rename ({data_bytes} bytes of file data)")
    if node_kind in SENDS_NO_DATA:
        # The daemon logs rsync's "bytes sent" per run: a re-send would be ~data_bytes.
        assert sent < data_bytes / 20, f"{sent} bytes sent for a rename of {data_bytes} bytes"


def test_rename_chains_end_up_at_the_last_name(mirror, node_kind) -> None:
    m = mirror()
    write(m.src / "a", os.urandom(100_000))
    write(m.src / "d1/f", os.urandom(100_000))
    m.start()
    m.converge()
    before = inodes(m.dst)
    os.rename(m.src / "a", m.src / "b")
    os.rename(m.src / "b", m.src / "c")
    os.rename(m.src / "d1", m.src / "d2")
    os.rename(m.src / "d2", m.src / "d3")
    m.converge(what="a->b->c and d1->d2->d3")
    # Swap two files through a temporary name.
    write(m.src / "x", b"x content")
    write(m.src / "y", b"y content")
    m.converge()
    os.rename(m.src / "x", m.src / "swap")
    os.rename(m.src / "y", m.src / "x")
    os.rename(m.src / "swap", m.src / "y")
    m.converge(what="swap x<->y")
    if node_kind in KEEPS_INODES:
        assert_inodes_kept(before, inodes(m.dst), {b"a": b"c", b"d1/f": b"d3/f"})


def test_rename_over_an_existing_file_like_an_editor_save(mirror) -> None:
    m = mirror()
    write(m.src / "config.ini", b"old version")
    m.start()
    m.converge()
    for i in range(5):
        write(m.src / ".config.ini.swp", b"new version %d" % i)
        os.rename(m.src / ".config.ini.swp", m.src / "config.ini")
        m.converge(what=f"atomic save #{i}")


def test_write_inside_a_dir_right_after_renaming_it(mirror) -> None:
    m = mirror()
    write(m.src / "old/keep", b"kept")
    write(m.src / "old/sub/edit", b"before")
    m.start()
    m.converge()
    os.rename(m.src / "old", m.src / "new")
    write(m.src / "new/fresh", b"written right after the rename")
    write(m.src / "new/sub/edit", b"after the rename")
    os.makedirs(m.src / "new/sub/deeper")
    write(m.src / "new/sub/deeper/f", b"deeper")
    m.converge(what="rename then write inside")
    os.rename(m.src / "new/sub", m.src / "moved-sub")
    write(m.src / "moved-sub/deeper/f", b"changed again")
    m.converge(what="second rename then write inside")


def test_move_out_of_the_tree_is_a_delete(mirror, tmp_path) -> None:
    m = mirror()
    outside = tmp_path / "outside"
    outside.mkdir()
    write(m.src / "leaving-file", b"bye")
    make_tree(m.src / "leaving-dir", dirs=5, files_per_dir=3)
    write(m.src / "staying", b"hi")
    m.start()
    m.converge()
    os.rename(m.src / "leaving-file", outside / "f")
    os.rename(m.src / "leaving-dir", outside / "d")
    m.converge(what="moves out of the tree")
    assert not (m.dst / "leaving-dir").exists()


def test_move_into_the_tree_creates_the_whole_subtree(mirror, tmp_path) -> None:
    m = mirror()
    outside = tmp_path / "outside"
    make_tree(outside / "incoming", dirs=8, files_per_dir=4, depth=2)
    write(outside / "incoming/a/b/c/deep", b"deep")
    os.symlink("a", outside / "incoming/link")
    write(outside / "single", b"one file")
    m.start()
    os.rename(outside / "incoming", m.src / "incoming")
    os.rename(outside / "single", m.src / "single")
    m.converge(what="moves into the tree")
    # Then move it around and back out again.
    os.rename(m.src / "incoming", m.src / "arrived")
    m.converge(what="rename of the moved-in tree")
    os.rename(m.src / "arrived", outside / "gone")
    m.converge(what="move back out")
    shutil.rmtree(outside / "gone")


def test_delete_inside_a_renamed_dir_then_rename_again(mirror, tmp_path) -> None:
    """Found by the random test (seed 337314144): a delete below a dir between two renames."""
    m = mirror()
    outside = tmp_path / "outside"
    outside.mkdir()
    write(m.src / "a/x/y/gone", b"moved out")
    write(m.src / "a/x/y/deleted", b"deleted")
    write(m.src / "a/x/kept", b"kept")
    m.start()
    m.converge()
    os.rename(m.src / "a", m.src / "b")
    os.rename(m.src / "b/x/y/gone", outside / "gone")
    os.unlink(m.src / "b/x/y/deleted")
    os.rename(m.src / "b", m.src / "c")
    m.converge(what="rename, deletes inside, rename again")


def test_move_out_below_a_dir_that_is_then_renamed_and_replaced_by_a_file(mirror,
                                                                          tmp_path) -> None:
    """Found by the random test (seed 3071266588): a stale path under what is now a file."""
    m = mirror()
    outside = tmp_path / "outside"
    outside.mkdir()
    write(m.src / "b/x/f", b"moved out")
    write(m.src / "other", b"to be deleted")
    m.start()
    m.converge()
    os.rename(m.src / "b/x/f", outside / "f")
    os.rename(m.src / "b", m.src / "c")
    write(m.src / "b", b"now a file")
    os.unlink(m.src / "other")
    m.converge(what="move out, rename the parent, a file in its place")


def test_move_out_below_a_dir_that_is_then_replaced_by_a_file(mirror, tmp_path) -> None:
    """Found by the random test (seed 3071266588): the move-out is reported after its parent
    became a file; rsync must not be left failing on that path (exit 23) forever."""
    m = mirror()
    outside = tmp_path / "outside"
    outside.mkdir()
    write(m.src / "a/x/f", b"moved out")
    write(m.src / "later-deleted", b"to be deleted")
    m.start()
    m.converge()
    os.rename(m.src / "a/x/f", outside / "f")
    shutil.rmtree(m.src / "a")
    write(m.src / "a", b"now a file")
    m.converge(what="move out, then its parent replaced by a file")
    os.unlink(m.src / "later-deleted")
    m.converge(what="a later delete")
    m.daemon.wait_in_sync(m.node.timeout)


def test_dir_renamed_while_its_new_files_are_being_sent(mirror, node_kind) -> None:
    """A rename racing an rsync that carries files below the renamed dir (seed 248821367)."""
    m = mirror(rspeed=300)  # 300 KB/s: `D/a-big` takes a few seconds
    write(m.src / "D/old", b"already on the node")
    d = m.start()
    m.converge()
    write(m.src / "D/a-big", os.urandom(900_000))
    for i in range(5):
        write(m.src / f"D/new{i}", b"new %d" % i)
    wait_until(lambda: any(name.startswith(b"rsync") for _, name in d.children()), 10,
               "an rsync carrying D/a-big")
    os.rename(m.src / "D", m.src / "E")
    m.converge(timeout=60, what="a dir renamed while its new files were in flight")


def test_dir_renamed_while_changes_below_it_are_being_listed(mirror) -> None:
    """A rename racing the file-list walk of an rsync over many changed files below the dir."""
    m = mirror()
    for i in range(2000):
        write(m.src / f"D/sub{i % 10}/f{i}", b"v1 %d" % i)
    d = m.start()
    m.converge(timeout=60)
    seen = {pid for pid, _ in d.children()}
    for i in range(2000):
        append(m.src / f"D/sub{i % 10}/f{i}", b" v2")
    wait_until(lambda: any(name.startswith(b"rsync") and pid not in seen
                           for pid, name in d.children()), 10, "an rsync for the appends",
               interval=0.001)
    os.rename(m.src / "D", m.src / "E")
    m.converge(timeout=60, what="a dir renamed while its changed files were being synced")


@pytest.mark.parametrize("in_flight", [False, True])
def test_changes_below_a_dir_then_the_dir_renamed_in_one_batch(mirror, tmp_path,
                                                               in_flight) -> None:
    """Pending creates and moves below a dir must follow that dir's rename (seed 248821367),
    also when they happen while an earlier batch is still being sent."""
    m = mirror(rspeed=300)
    outside = tmp_path / "outside"
    write(outside / "tree/inner/f", b"moved in")
    write(m.src / "n6/x", b"x")
    write(m.src / "n6/sub/z", b"z")
    write(m.src / "elsewhere/w", b"w")
    d = m.start()
    m.converge()
    if in_flight:
        write(m.src / "a-big", os.urandom(600_000))  # 2 s at 300 KB/s
        wait_until(lambda: any(name.startswith(b"rsync") for _, name in d.children()), 10,
                   "an rsync carrying a-big")
    write(m.src / "n6/created", b"new")
    os.rename(m.src / "n6/x", m.src / "n6/y")
    os.rename(m.src / "n6/sub/z", m.src / "n6/moved-z")
    os.rename(m.src / "elsewhere", m.src / "n6/moved-dir")
    os.rename(outside / "tree", m.src / "n6/from-outside")
    os.rename(m.src / "n6", m.src / "renamed")
    m.converge(what="changes below a dir, then the dir renamed")


def sed_with_backup(path, data: bytes) -> None:
    """What `sed -i.bak` does: the new file under a temporary name, the old one renamed to
    .bak, the new one renamed into place."""
    temporary = path.parent / f"sed{os.getpid()}"
    write(temporary, data)
    os.rename(path, path.parent / (path.name + ".bak"))
    os.rename(temporary, path)


def arriving(directory, name: str) -> bool:
    """Is `name`, or rsync's temporary file for it, in `directory` yet?"""
    try:
        return any(name in entry for entry in os.listdir(directory))
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sync", ["full", "batch"])
def test_a_file_renamed_while_rsync_reads_it_keeps_its_own_data(mirror, tmp_path,
                                                                sync) -> None:
    """rsync takes a file's size and mtime when it lists it and reads it later; a file that
    sed -i.bak replaces in between reaches the node as the new data under the old file's
    size and mtime. Renamed to .bak on the node, that copy would match the source's .bak
    in size and mtime but not in data, and no quick check would ever see it."""
    m = mirror(rspeed=300)  # 300 KB/s: `a-big` takes about 2 s, listed before z.conf
    here = m.src if sync == "full" else tmp_path / "outside"
    write(here / "new/a-big", os.urandom(600_000))
    write(here / "new/z.conf", b"version = 1\n")
    if sync == "full":
        m.start(wait_ready=False)
    else:
        m.start()
        os.rename(here / "new", m.src / "new")  # one batch: the whole of new/, listed first
    # its rsync has listed z.conf once a-big (or rsync's temporary file) is on the node
    wait_until(lambda: arriving(m.node.dst / "new", "a-big"), 10, "new/a-big on the node")
    sed_with_backup(m.src / "new/z.conf", b"version = 2\n")
    m.converge(timeout=60, what=f"sed -i.bak while the {sync} sync reads the file")
