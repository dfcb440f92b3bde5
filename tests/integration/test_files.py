"""Lone file changes, symlinks and odd names, each mirrored narrowly and quickly."""

from __future__ import annotations

import os
import statistics
import time

import pytest
from helpers import ODD_NAMES, append, write
from helpers.clients import require, run


def test_file_create_modify_truncate_chmod_delete(mirror) -> None:
    m = mirror()
    m.start()
    f = m.src / "lone.txt"
    write(f, b"created")
    m.converge(what="create")
    write(f, b"modified, longer than before")
    m.converge(what="modify")
    append(f, b" and appended")
    m.converge(what="append")
    os.truncate(f, 5)
    m.converge(what="truncate to 5 bytes")
    os.truncate(f, 0)
    m.converge(what="truncate to 0")
    os.chmod(f, 0o640)
    m.converge(what="chmod 640")
    os.chmod(f, 0o755)
    m.converge(what="chmod 755")
    os.utime(f, ns=(10**9, 10**18))
    m.converge(what="touch -d (mtime only)")
    f.unlink()
    m.converge(what="delete")
    assert not (m.dst / "lone.txt").exists()


def test_same_size_rewrites_within_one_second_are_mirrored(mirror) -> None:
    """rsync's quick check (size + whole-second mtime) must not hide a change inotify saw."""
    m = mirror()
    m.start()
    f = m.src / "same-size.txt"
    for i in range(6):
        write(f, b"version %d" % i)
        m.converge(what=f"rewrite #{i} with the same size")


def test_appends_to_a_file_held_open_are_mirrored(mirror) -> None:
    """A log held open produces IN_MODIFY only, never IN_CLOSE_WRITE."""
    m = mirror()
    m.start()
    with open(m.src / "app.log", "ab", buffering=0) as log:
        for i in range(4):
            log.write(b"line %d\n" % i * 50)
            m.converge(what=f"append #{i} to a file held open")
    m.converge(what="after close")


def test_many_files_written_at_once_are_all_mirrored(mirror) -> None:
    m = mirror()
    m.start()
    for i in range(500):
        write(m.src / f"burst/d{i % 20}/f{i}", os.urandom(300))
    m.converge(what="burst of 500 files", timeout=60)


def test_symlinks_are_mirrored_as_links_and_never_followed(mirror, tmp_path) -> None:
    m = mirror()
    outside = tmp_path / "outside"
    write(outside / "secret", b"must not be copied")
    write(m.src / "dir/file", b"target")
    m.start()
    os.symlink("dir/file", m.src / "to-file")
    os.symlink("dir", m.src / "to-dir")
    os.symlink("no/such/thing", m.src / "dangling")
    os.symlink(str(outside), m.src / "to-outside")
    os.symlink(str(outside / "secret"), m.src / "to-outside-file")
    os.symlink("loop", m.src / "loop")
    m.converge(what="new symlinks")
    for name in ("to-file", "to-dir", "dangling", "to-outside", "to-outside-file", "loop"):
        assert os.path.islink(m.dst / name), f"{name} is not a symlink on the node"
    # Retarget a link, replace a link by a file and a file by a link.
    os.unlink(m.src / "to-dir")
    os.symlink("dir/file", m.src / "to-dir")
    os.unlink(m.src / "dangling")
    write(m.src / "dangling", b"now a file")
    os.unlink(m.src / "dir/file")
    os.symlink("../to-file", m.src / "dir/file")
    m.converge(what="retargeted and replaced links")
    os.unlink(m.src / "to-outside")
    m.converge(what="deleted link to a dir outside")
    assert os.path.exists(outside / "secret")


def test_odd_file_names_survive_create_rename_delete(mirror) -> None:
    m = mirror()
    m.start()
    src = os.fsencode(m.src)
    odd_dir = os.path.join(src, b"#dir with space;%\n\xff")
    for i, name in enumerate(ODD_NAMES):
        write(os.path.join(src, name), b"top %d" % i)
        write(os.path.join(odd_dir, name), b"nested %d" % i)
    m.converge(what="odd names created")
    for i, name in enumerate(ODD_NAMES):
        os.rename(os.path.join(src, name), os.path.join(src, ODD_NAMES[-1 - i] + b".renamed"))
    m.converge(what="odd names renamed")
    os.rename(odd_dir, os.path.join(src, b"-moved dir *"))
    m.converge(what="odd-named dir renamed")
    for name in ODD_NAMES[::2]:
        os.unlink(os.path.join(src, b"-moved dir *", name))
    m.converge(what="odd names deleted")


@pytest.mark.parametrize("node_kind", ["local", "ssh"])
def test_lone_change_reaches_the_node_in_under_a_second(mirror, node_kind) -> None:
    """Target: 100 ms local, 300 ms over ssh on loopback; assert well under a second."""
    m = mirror()
    m.start()
    write(m.src / "warm-up", b"x")
    m.converge()
    took = []
    for i in range(7):
        write(m.src / f"lone{i}", b"change %d" % i)
        t0 = time.monotonic()
        m.converge()
        took.append(time.monotonic() - t0)
    median = statistics.median(took)
    print(f"{node_kind}: lone change latency median {median * 1000:.0f} ms, "
          f"all {[round(t * 1000) for t in took]} ms")
    assert median < 1.0, f"median latency {median:.2f}s, samples {took}"


def test_a_same_size_rewrite_that_keeps_the_mtime_is_sent_with_checksum(mirror,
                                                                       tmp_path) -> None:
    """`cp -p` of a file with the same size and mtime but other data: rsync's quick check
    sees nothing, `extra = "--checksum"` (the README's remedy) sends it."""
    m = mirror(extra="--checksum")
    write(m.src / "conf/app.conf", b"port = 8080\n")
    m.start()
    m.converge(what="the start-up sync")
    release = tmp_path / "release.conf"
    write(release, b"port = 9090\n")
    run([require("touch"), "-r", m.src / "conf/app.conf", release])
    run([require("cp"), "-p", release, m.src / "conf/app.conf"])
    assert os.stat(m.src / "conf/app.conf").st_mtime_ns == \
        os.stat(m.node.dst / "conf/app.conf").st_mtime_ns
    m.converge(what="cp -p of the same size and mtime")
