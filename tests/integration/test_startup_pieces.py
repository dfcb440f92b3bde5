"""A tree too large to walk in a blink is synced a piece at a time while the start-up walk
still watches the rest: each piece holds only subtrees already watched, the last is the
whole tree leaving out what the others sent, and their deletions are one full sync's,
allowed or refused all at once. rsync runs are counted by an `rsync` that logs its argv."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from helpers import inotify_watches_in_use, logging_rsync, snapshot, sysctl, wait_until, write

from inosync.changes import ROOT
from inosync.config.load import load
from inosync.node.restricted import resolve
from inosync.process import run
from inosync.rsync.argv import piece_sync
from inosync.rsync.output import deletions_held_back
from inosync.source.subtrees import Piece

TOPS, PER_TOP = 30, 1000  # 30,030 directories: a piece of 25 tops, then the rest
STALE = 2 * TOPS + 1  # node-only entries: one in each top, one below each, one at the top


def large_tree(src: Path, dst: Path) -> None:
    """The source, and a node with an old copy of some of it plus entries the source does
    not have, in every top and below it."""
    for top in range(TOPS):
        for sub in range(PER_TOP):
            os.makedirs(src / f"p{top:02}" / f"d{sub:03}")
        for sub in range(0, PER_TOP, 100):
            write(src / f"p{top:02}" / f"d{sub:03}" / "f", b"file %d/%d" % (top, sub))
        write(dst / f"p{top:02}" / "stale", b"only on the node")
        write(dst / f"p{top:02}" / "d007" / "stale", b"only on the node")
        write(dst / f"p{top:02}" / "d100" / "f", b"an older copy")
    write(dst / "stale-top", b"only on the node")


def piece_runs(runs: Path) -> list[str]:
    return [line for line in runs.read_text().splitlines() if " -R " in line
            and "--files-from" not in line]


@pytest.mark.parametrize("node_kind", ["local", "ssh", "rsyncd", "restricted"])
def test_pieces_and_the_rest_make_one_full_sync_on_every_node_kind(mirror) -> None:
    """The commands themselves, run by hand against each kind of node: two pieces deleting
    nothing count every deletion exactly once, and the rest of the tree leaves theirs."""
    m = mirror(max_delete_share=0.5)
    for top in ("a", "b/x", "b/y", "c"):
        write(m.src / top / "sub" / "f", b"in " + top.encode())
        write(m.dst / top / "sub" / "stale", b"only on the node")
    write(m.src / "b" / "f", b"in b")
    write(m.dst / "b" / "stale", b"only on the node")
    write(m.dst / "stale-dir" / "sub" / "g", b"only on the node")
    cfg = load(str(m.write_config()))
    node = resolve(cfg, cfg.nodes[0])  # through rrsync: relative to its directory
    held = 0
    for piece in (Piece(("a", "b/x")), Piece(("c",)), Piece((ROOT,), ("a", "b/x", "c"))):
        ran = run(piece_sync(cfg, node, None, 0, (), piece.tops, piece.inside).argv,
                  timeout=60)
        assert ran.code in (0, 25), ran.stderr
        held += deletions_held_back((ran.stdout + ran.stderr).encode()) or 0
    # a/sub/stale, b/x/sub/stale, c/sub/stale; b/stale, b/y/sub/stale, stale-dir (3 entries)
    assert held == 8
    assert all((m.dst / top / "sub" / "f").exists() for top in ("a", "b/x", "b/y", "c"))
    assert (m.dst / "stale-dir" / "sub" / "g").exists()  # nothing deleted yet
    # Deleting, the rest of the tree leaves the pieces' subtrees alone
    ran = run(piece_sync(cfg, node, None, -1, (), (ROOT,), ("a", "b/x")).argv, timeout=60)
    assert ran.code == 0, ran.stderr
    assert (m.dst / "a" / "sub" / "stale").exists() and (m.dst / "b/x/sub/stale").exists()
    assert not (m.dst / "c" / "sub" / "stale").exists() and not (m.dst / "stale-dir").exists()


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_piece_whose_directory_became_a_symlink_sends_the_link_not_what_it_points_to(
        mirror, tmp_path: Path) -> None:
    """A deploy swaps a symlink in where the walk saw a directory: the piece sends the
    link, never the tree it points to outside wpath; a piece gone meanwhile is skipped."""
    m = mirror()
    write(tmp_path / "outside" / "secret", b"not below wpath")
    os.symlink(tmp_path / "outside", m.src / "swapped")
    cfg = load(str(m.write_config()))
    ran = run(piece_sync(cfg, cfg.nodes[0], None, 0, (), ("swapped", "gone"), ()).argv,
              timeout=60)
    assert ran.code == 0, ran.stderr
    assert os.readlink(m.dst / "swapped") == str(tmp_path / "outside")
    assert not (m.dst / "gone").exists()


def test_the_first_sync_starts_while_the_walk_goes_on_and_converges(
        mirror, node_kind: str, tmp_path: Path) -> None:
    script, runs = logging_rsync(tmp_path)
    m = mirror(rsync=str(script), max_delete_share=0.5)
    large_tree(m.src, m.dst)
    d = m.start(wait_ready=False)
    # A local node starts at once; a remote one first opens its connection, which may
    # outlast the walk: then its first sync is one run, as for any smaller tree.
    wait_until(lambda: runs.exists() and (piece_runs(runs) or node_kind != "local"),
               60, "the first piece")
    # Changes made now, while the walk may still run, in pieces sent and to come.
    for top in range(0, TOPS, 7):
        write(m.src / f"p{top:02}" / "d000" / "f", b"changed at start-up")
        write(m.src / f"p{top:02}" / "d999" / "new", b"new at start-up")
        os.makedirs(m.src / f"p{top:02}" / "made-at-start-up" / "deeper")
    d.wait_ready(180)
    m.converge(timeout=180, what="the pieces, the deletions and the changes made meanwhile")
    assert snapshot(m.src) == snapshot(m.dst)
    log = d.log()
    assert f"held back {STALE} deletions" in log, d.log_tail()
    assert "refused" not in log
    pieces = piece_runs(runs)
    if node_kind != "local" and not pieces:
        return
    assert len(pieces) == 1, pieces
    assert "--max-delete=0" in pieces[0] and "--delete" in pieces[0]
    sent = set(re.findall(r"/\./(p\d\d) ", pieces[0]))
    assert len(sent) == 25
    # The first piece went out before the walk was over
    assert log.index(" -R ") < log.index(" directories (")
    # The last run of the first full sync is the whole tree without the piece's subtrees
    whole = [line for line in runs.read_text().splitlines() if f" -- {m.src}/ " in line]
    assert set(re.findall(r"--filter=-s /(p\d\d) ", whole[0] + " ")) == sent
    assert set(re.findall(r"--filter=P /(p\d\d) ", whole[0] + " ")) == sent


@pytest.mark.parametrize("node_kind", ["local"])
def test_deletions_over_the_bound_are_refused_across_all_pieces(
        mirror, tmp_path: Path) -> None:
    script, runs = logging_rsync(tmp_path)
    m = mirror(rsync=str(script), max_delete_share=0.001)  # 30 of 30,000 entries
    large_tree(m.src, m.dst)
    before = {rel: entry for rel, entry in snapshot(m.dst).items() if b"stale" in rel}
    d = m.start(wait_ready=False)
    d.wait_status(lambda s: "deletions refused" in s, 180, "the refusal in STATUS")
    assert f"a full sync would delete {STALE} entries" in d.log()
    after = {rel: entry for rel, entry in snapshot(m.dst).items() if b"stale" in rel}
    assert after == before  # all or nothing: not one deletion, in any piece
    for top in range(TOPS):
        assert (m.dst / f"p{top:02}" / "d100" / "f").read_bytes() == b"file %d/100" % top
    assert len(piece_runs(runs)) == 1


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_piece_that_fails_starts_the_full_sync_again(mirror, tmp_path: Path) -> None:
    """The node's connection breaks during the first piece: nothing is lost, the full sync
    runs again (in pieces while the walk lasts) and the node converges."""
    script, runs = logging_rsync(tmp_path, fail_first=" -R ")
    m = mirror(rsync=str(script), max_delete_share=0.5)
    large_tree(m.src, m.dst)
    started = time.monotonic()
    d = m.start(wait_ready=False)
    d.wait_ready(180)
    m.converge(timeout=180 - (time.monotonic() - started), what="the full sync after a failure")
    assert snapshot(m.src) == snapshot(m.dst)
    assert "retrying with backoff" in d.log(), d.log_tail()
    assert "back in sync" in d.log()


@pytest.mark.parametrize("node_kind", ["local"])
def test_running_out_of_watches_after_the_first_piece_stops_with_what_to_raise(
        mirror) -> None:
    """The walk had sent a piece when inotify ran out of watches: with `watcher =
    "inotify"` the daemon exits 1 naming the limit, as when the walk fails up front."""
    m = mirror(watcher="inotify")
    for top in range(27):  # a piece of 25 tops, then the limit, 26,000 watches in
        for sub in range(PER_TOP):
            os.makedirs(m.src / f"p{top:02}" / f"d{sub:03}")
    limit = inotify_watches_in_use() + 26_000
    with sysctl("/proc/sys/fs/inotify/max_user_watches", str(limit)):
        d = m.start(wait_ready=False)
        assert d.proc is not None
        rc = d.proc.wait(120)
    log = d.log()
    assert rc == 1, f"exit {rc}\n{d.log_tail()}"
    assert " -R " in log and "fs.inotify.max_user_watches" in log and str(limit) in log
    assert "Traceback" not in log


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_tree_swapped_in_while_the_walk_goes_on_is_watched_and_mirrored(
        mirror, tmp_path: Path) -> None:
    """A deploy renames a new tree into wpath while the start-up walk still watches the
    old one: the old tree's watches do not pass for the new tree's; the daemon pauses,
    watches the new tree and mirrors it, changes made in it afterwards included."""
    script, runs = logging_rsync(tmp_path)
    m = mirror(rsync=str(script), max_delete_share=1)
    for top in range(2 * TOPS):  # the walk goes on well after its first piece
        for sub in range(PER_TOP):
            os.makedirs(m.src / f"p{top:03}" / f"d{sub:03}")
    new = tmp_path / "new"
    write(new / "index.html", b"the new release")
    d = m.start(wait_ready=False)
    wait_until(lambda: runs.exists() and piece_runs(runs), 60, "the first piece")
    os.rename(m.src, tmp_path / "old")
    os.rename(new, m.src)
    d.wait_log(lambda text: "new non-empty directory" in text, 30, "the swap seen")
    m.converge(timeout=120, what="the tree swapped in")
    write(m.src / "later", b"written in the new tree")
    m.converge(timeout=30, what="a change in the tree swapped in")
