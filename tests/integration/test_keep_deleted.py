"""keep_deleted with the real daemon on every kind of node: what a sync deletes or
overwrites is kept under rpath/.inosync-kept/STAMP/, never synced, compared or reported as
drift; pruning removes only our own stamps older than the period; `inosync restore` brings a
path back into the source and the daemon sends it on."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from helpers import run_inosync
from helpers.tree import wait_until

KINDS = ["local", "ssh", "restricted", "rsyncd"]
KEPT = ".inosync-kept"


def kept_copies(dst: Path, rel: str) -> list[Path]:
    """Every kept copy of `rel` on the node, oldest first."""
    top = dst / KEPT
    if not top.is_dir():
        return []
    return sorted(p / rel for p in top.iterdir() if (p / rel).exists() or (p / rel).is_symlink())


@pytest.mark.parametrize("node_kind", KINDS)
def test_deleted_and_overwritten_files_are_kept_and_restored(mirror, tmp_path: Path) -> None:
    m = mirror(keep_deleted="7d")
    (m.src / "gone.html").write_text("deleted later")
    (m.src / "page.html").write_text("version 1")
    (m.src / "dir").mkdir()
    (m.src / "dir" / "inner.txt").write_text("inner")
    m.start()
    m.converge()
    (m.src / "gone.html").unlink()
    (m.src / "page.html").write_text("version 2, longer")
    (m.src / "dir" / "inner.txt").unlink()
    (m.src / "dir").rmdir()
    m.converge()
    wait_until(lambda: kept_copies(m.dst, "gone.html") and kept_copies(m.dst, "page.html")
               and kept_copies(m.dst, "dir/inner.txt"), 10, "the kept copies")
    assert kept_copies(m.dst, "gone.html")[-1].read_text() == "deleted later"
    assert kept_copies(m.dst, "page.html")[-1].read_text() == "version 1"
    assert kept_copies(m.dst, "dir/inner.txt")[-1].read_text() == "inner"
    assert (m.dst / "page.html").read_text() == "version 2, longer"
    # never compared: the node is in sync with the kept directory on it
    verify = run_inosync("verify", "-c", str(m.config), timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert KEPT not in verify.stdout

    listed = run_inosync("restore", "-c", str(m.config), "--list", "gone.html", timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "gone.html" in listed.stdout
    restored = run_inosync("restore", "-c", str(m.config), "gone.html", timeout=120)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert (m.src / "gone.html").read_text() == "deleted later"
    m.converge()
    assert (m.dst / "gone.html").read_text() == "deleted later"
    again = run_inosync("restore", "-c", str(m.config), "gone.html", timeout=120)
    assert again.returncode == 1 and "exists - move it away first" in again.stderr
    assert (m.src / "gone.html").read_text() == "deleted later"
    elsewhere = tmp_path / "elsewhere"
    to = run_inosync("restore", "-c", str(m.config), "--to", str(elsewhere),
                     str(m.src / "dir" / "inner.txt"), timeout=120)
    assert to.returncode == 0, to.stdout + to.stderr
    assert (elsewhere / "dir" / "inner.txt").read_text() == "inner"
    assert not (m.src / "dir").exists(), "--to wrote into the source"


@pytest.mark.parametrize("node_kind", KINDS)
def test_pruning_removes_only_our_own_stamps_older_than_the_period(mirror) -> None:
    m = mirror(keep_deleted="1h")
    (m.src / "f").write_text("f")
    kept = m.dst / KEPT
    old = kept / "2020-01-01T000000.000Z"
    recent = kept / time.strftime("%Y-%m-%dT%H%M%S.000Z", time.gmtime(time.time() - 600))
    for directory in (old / "sub", recent):
        directory.mkdir(parents=True)
    (old / "sub" / "x").write_text("old")
    (recent / "y").write_text("recent")
    (kept / "NOTES").write_text("not ours")
    (kept / "2020-not-a-stamp").mkdir()
    m.start()
    m.converge()
    wait_until(lambda: not old.exists(), 15, "the old stamp to be pruned")
    assert (recent / "y").read_text() == "recent"
    assert (kept / "NOTES").exists() and (kept / "2020-not-a-stamp").is_dir()


@pytest.mark.parametrize("node_kind", ["local", "ssh", "restricted"])
def test_the_kept_directory_is_made_private_before_the_first_sync(mirror) -> None:
    m = mirror(keep_deleted="7d")
    (m.src / "index.html").write_text("x")
    m.start()
    m.converge()
    kept = m.dst / KEPT
    wait_until(kept.is_dir, 10, "the kept directory")
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o700


@pytest.mark.parametrize("node_kind", ["ssh", "local"])
def test_a_rename_over_a_file_keeps_the_file_it_replaced(mirror) -> None:
    m = mirror(keep_deleted="7d")
    (m.src / "current.html").write_text("live version")
    m.start()
    m.converge()
    (m.src / "next.html").write_text("new version!")
    m.converge()
    os.rename(m.src / "next.html", m.src / "current.html")
    m.converge()
    wait_until(lambda: kept_copies(m.dst, "current.html"), 10, "the replaced file kept")
    assert kept_copies(m.dst, "current.html")[-1].read_text() == "live version"
    assert (m.dst / "current.html").read_text() == "new version!"


def test_restore_says_when_keep_deleted_is_off_or_nothing_is_kept(tmp_path: Path) -> None:
    from helpers import write_config
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""])
    off = run_inosync("restore", "-c", str(cfg), "a")
    assert off.returncode == 1 and "keep_deleted is off" in off.stderr
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                       keep_deleted="7d")
    none = run_inosync("restore", "-c", str(cfg), "a")
    assert none.returncode == 1 and "keeps no copy of a" in none.stderr
    outside = run_inosync("restore", "-c", str(cfg), "/etc/passwd")
    assert outside.returncode == 2 and "not a path inside wpath" in outside.stderr
    up = run_inosync("restore", "-c", str(cfg), "../x")
    assert up.returncode == 2
