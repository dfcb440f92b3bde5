"""Excludes (rsync semantics) apply to watching and to every sync; node-side excluded paths stay."""

from __future__ import annotations

import os
import shutil

from helpers import holds_for, wait_until, write

EXCLUDES = ["*.tmp", "/cache/", "tmp/**"]
NEVER_SENT = ["x.tmp", "a/b/y.tmp", "cache/c1", "cache/sub/c2", "tmp/t1", "a/tmp/t2",
              "a/tmp/deep/t3"]
SENT = ["x.tmpl", "a/cache/not-anchored", "cache.txt", "tmp-file", "atmp/f"]


def absent(m, rels) -> bool:
    return not any(os.path.lexists(m.dst / r) for r in rels)


def test_excluded_paths_never_reach_the_node(mirror) -> None:
    m = mirror(excludes=EXCLUDES)
    m.start()
    for rel in NEVER_SENT + SENT:
        write(m.src / rel, rel.encode())
    m.converge(what="excluded and included files created")
    for rel in NEVER_SENT:
        assert not os.path.lexists(m.dst / rel), f"excluded {rel} reached the node"
    for rel in SENT:
        assert (m.dst / rel).read_bytes() == rel.encode()
    # Modify the excluded ones and a sentinel; once the sentinel is there, still nothing excluded.
    for rel in NEVER_SENT:
        write(m.src / rel, b"changed")
    write(m.src / "sentinel", b"s")
    m.converge()
    assert absent(m, NEVER_SENT)
    holds_for(lambda: absent(m, NEVER_SENT), 1.0, "excluded paths staying off the node")


def test_excluded_files_on_the_node_are_never_deleted(mirror) -> None:
    m = mirror(excludes=EXCLUDES)
    write(m.src / "d/f", b"f")
    write(m.src / "e/f", b"f")
    m.start()
    m.converge()
    own = {"d/own.tmp": b"node's", "cache/own": b"node's", "tmp/own": b"node's",
           "own.tmp": b"node's"}
    for rel, data in own.items():
        write(m.dst / rel, data)
    # Delete a source dir whose node copy holds an excluded file, and a whole other dir.
    shutil.rmtree(m.src / "d")
    shutil.rmtree(m.src / "e")
    write(m.src / "new", b"n")
    wait_until(lambda: not (m.dst / "d/f").exists() and not (m.dst / "e").exists()
               and (m.dst / "new").exists(), m.node.timeout, "the deletes on the node")
    for rel, data in own.items():
        assert (m.dst / rel).read_bytes() == data, f"node's excluded {rel} was touched"
    m.daemon.wait_in_sync(m.node.timeout)
    for rel, data in own.items():
        assert (m.dst / rel).read_bytes() == data, f"node's excluded {rel} was touched"


def test_rename_to_and_from_excluded_names(mirror) -> None:
    """Download-then-rename: `f.tmp` -> `f` is a create; `g` -> `g.tmp` is a delete."""
    m = mirror(excludes=EXCLUDES)
    write(m.src / "g", b"was included")
    make = m.src / "build"
    m.start()
    m.converge()
    write(m.src / "f.tmp", os.urandom(50_000))
    os.rename(m.src / "f.tmp", m.src / "f")
    os.rename(m.src / "g", m.src / "g.tmp")
    m.converge(what="renames across the exclude boundary")
    assert not (m.dst / "g").exists() and not (m.dst / "g.tmp").exists()
    # Directories: out of an excluded dir (create) and into one (delete).
    write(m.src / "tmp/build/out/a.o", b"obj")
    write(m.src / "tmp/build/b.o", b"obj")
    os.rename(m.src / "tmp/build", make)
    m.converge(what="dir moved out of tmp/**")
    os.rename(make, m.src / "cache")
    m.converge(what="dir moved into /cache/")
    assert not (m.dst / "build").exists() and not (m.dst / "cache").exists()


def test_excluded_dirs_are_not_watched_but_siblings_are(mirror) -> None:
    m = mirror(excludes=EXCLUDES)
    write(m.src / "cache/pre", b"p")
    m.start()
    for i in range(300):
        write(m.src / f"cache/churn/{i % 10}/{i}", b"c")
    write(m.src / "real/file", b"r")
    m.converge(what="a sibling of a busy excluded dir")
    assert not (m.dst / "cache").exists()
