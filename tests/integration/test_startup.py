"""Start-up: watches first, then one full sync per node; READY=1 after it was tried."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import ODD_NAMES, snapshot, write

EXCLUDES = ["*.tmp", "/cache/", "tmp/**"]


def populate(root: Path) -> None:
    write(root / "index.html", b"<html>", mode=0o644)
    write(root / "bin/run.sh", b"#!/bin/sh\n", mode=0o755)
    write(root / "private/key", b"secret", mode=0o600)
    write(root / "a/b/c/deep.txt", b"deep" * 1000)
    write(root / "empty-file", b"")
    (root / "empty-dir").mkdir()
    os.chmod(root / "a/b", 0o750)
    os.symlink("index.html", root / "link-to-file")
    os.symlink("a/b", root / "link-to-dir")
    os.symlink("does/not/exist", root / "dangling")
    for i, name in enumerate(ODD_NAMES):
        write(os.path.join(os.fsencode(root), b"odd", name), b"odd %d" % i)
    for i in range(20):
        write(root / f"many/f{i:02}", os.urandom(500))


def test_startup_full_sync_copies_the_existing_tree(mirror) -> None:
    m = mirror()
    populate(m.src)
    m.start()
    m.converge(what="initial full sync")


def test_startup_deletes_stale_files_and_keeps_excluded_ones_on_the_node(mirror) -> None:
    m = mirror(excludes=EXCLUDES)
    populate(m.src)
    write(m.src / "x.tmp", b"never leaves the source")
    write(m.src / "cache/c", b"never leaves the source")
    write(m.src / "tmp/t", b"never leaves the source")
    # The node: an older copy of some of it, stale files, and excluded files of its own.
    write(m.dst / "index.html", b"<old>")
    for i in range(20):
        write(m.dst / f"many/f{i:02}", b"old")
    write(m.dst / "stale-file", b"gone from the source")
    write(m.dst / "stale-dir/sub/f", b"gone from the source")
    os.symlink("x", m.dst / "stale-link")
    node_only = {
        "node.tmp": b"excluded, node's own",
        "a/b/also.tmp": b"excluded, node's own",
        "cache/node-cache": b"excluded, node's own",
        "tmp/node-tmp": b"excluded, node's own",
    }
    for rel, data in node_only.items():
        write(m.dst / rel, data)
    m.start()
    m.converge(what="initial full sync with excludes")
    for rel, data in node_only.items():
        assert (m.dst / rel).read_bytes() == data, f"excluded {rel} on the node was touched"
    for rel in ("x.tmp", "cache/c", "tmp/t"):
        assert not (m.dst / rel).exists(), f"excluded {rel} reached the node"
    assert not (m.dst / "stale-dir").exists()


def test_ready_is_sent_once_and_status_says_in_sync(mirror) -> None:
    m = mirror()
    populate(m.src)
    d = m.start()
    m.converge()
    d.wait_in_sync(timeout=m.node.timeout)
    assert d.count("READY=1") == 1


def test_changes_during_the_initial_sync_are_not_lost(mirror) -> None:
    """Watches go in before the full sync, so what changes while it runs still arrives."""
    m = mirror()
    for i in range(300):
        write(m.src / f"bulk/d{i % 10}/f{i}", os.urandom(2000))
    d = m.start(wait_ready=False)
    # Change the tree while the daemon is starting up and syncing.
    for i in range(50):
        write(m.src / f"bulk/d{i % 10}/f{i}", b"changed during start-up %d" % i)
        write(m.src / f"late/n{i}", b"new during start-up")
    (m.src / "bulk/d9/f9").unlink()
    d.wait_ready(60)
    m.converge(what="changes made during start-up")
    assert snapshot(m.src) == snapshot(m.dst)
