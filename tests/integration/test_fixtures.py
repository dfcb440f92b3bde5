"""The test infrastructure itself: servers reachable, rsync through them, tree comparison."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import (
    Excludes,
    Rsyncd,
    Sshd,
    diff_snapshots,
    snapshot,
    wait_converged,
    write,
)
from helpers.fsops import ODD_NAMES


def _rsync(*args: str) -> None:
    subprocess.run(["rsync", *args], check=True, capture_output=True, timeout=60)


def test_sshd_runs_commands_and_rsync(sshd: Sshd, tmp_path: Path) -> None:
    out = subprocess.run(sshd.ssh_argv("echo", "hello"), capture_output=True, text=True,
                         timeout=30, check=True)
    assert out.stdout.strip() == "hello"
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "a/b.txt", b"data")
    os.symlink("b.txt", src / "a/link")
    _rsync("-a", "--delete", "-e", sshd.rsh, f"{src}/", f"{sshd.rnode}{dst}/")
    wait_converged(src, dst, 5)


def test_sshd_goes_down_and_comes_back_on_the_same_port(sshd_factory, tmp_path: Path) -> None:
    server = sshd_factory()
    port = server.port
    assert subprocess.run(server.ssh_argv("true"), timeout=30).returncode == 0
    server.stop()
    assert not server.running
    assert subprocess.run(server.ssh_argv("true"), timeout=30,
                          capture_output=True).returncode == 255
    server.start()
    assert server.port == port
    assert subprocess.run(server.ssh_argv("true"), timeout=30).returncode == 0


def test_sshd_with_binds_is_a_separate_machine(sshd_factory, tmp_path: Path) -> None:
    here, there = tmp_path / "dst", tmp_path / "remote-view"
    here.mkdir()
    there.mkdir()
    server = sshd_factory(binds={str(here): str(there)})
    subprocess.run(server.ssh_argv("touch", f"{here}/made-over-ssh"), check=True, timeout=30)
    assert (there / "made-over-ssh").exists()
    assert not (here / "made-over-ssh").exists()


def test_rsyncd_module_is_writable(rsyncd: Rsyncd, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i, name in enumerate(ODD_NAMES):
        write(os.path.join(os.fsencode(src), name), b"%d" % i, mode=0o640)
    os.symlink("nowhere", src / "dangling")
    dst = rsyncd.module_path / "fixture-test" / "dst"
    dst.parent.mkdir()
    _rsync("-a", "--delete", f"{src}/", f"{rsyncd.rnode}/fixture-test/dst/")
    wait_converged(src, dst, 5)


def test_snapshot_sees_content_mode_mtime_and_links(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        write(root / "d/f", b"same")
        os.symlink("../d", root / "d/up")
        os.utime(root / "d/f", ns=(1, 10**18))
    assert snapshot(a) == snapshot(b)
    os.chmod(b / "d/f", 0o600)
    assert "different" in diff_snapshots(snapshot(a), snapshot(b))
    os.chmod(b / "d/f", os.stat(a / "d/f").st_mode)
    os.utime(b / "d/f", ns=(1, 10**18 + 1))
    assert snapshot(a) != snapshot(b)
    os.utime(b / "d/f", ns=(1, 10**18))
    os.unlink(b / "d/up")
    os.symlink("../e", b / "d/up")
    assert snapshot(a) != snapshot(b)
    with pytest.raises(pytest.fail.Exception, match="different"):
        wait_converged(a, b, 0.2)


@pytest.mark.parametrize(
    ("path", "is_dir", "excluded"),
    [
        (b"x.tmp", False, True),
        (b"a/b/x.tmp", False, True),
        (b"x.tmpl", False, False),
        (b"cache", True, True),
        (b"cache", False, False),
        (b"cache/f", False, True),
        (b"a/cache", True, False),
        (b"tmp", True, False),
        (b"tmp/f", False, True),
        (b"a/tmp/f/g", False, True),
        (b"atmp/f", False, False),
    ],
)
def test_exclude_matcher_table(path: bytes, is_dir: bool, excluded: bool) -> None:
    assert Excludes(["*.tmp", "/cache/", "tmp/**"])(path, is_dir) is excluded


def test_exclude_matcher_agrees_with_real_rsync(tmp_path: Path) -> None:
    patterns = ["*.tmp", "/cache/", "tmp/**"]
    src, dst = tmp_path / "src", tmp_path / "dst"
    for rel in ["x.tmp", "a/b/x.tmp", "x.tmpl", "cache/f", "a/cache/f", "tmp/f", "a/tmp/f/g",
                "atmp/f", "keep", "cachex/f"]:
        write(src / rel, rel.encode())
    _rsync("-a", *[f"--exclude={p}" for p in patterns], f"{src}/", f"{dst}/")
    expected = snapshot(src, Excludes(patterns))
    assert snapshot(dst) == expected, diff_snapshots(expected, snapshot(dst))
