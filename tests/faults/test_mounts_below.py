"""Filesystems mounted below wpath, for real, in a private mount namespace: one that is
unmounted is kept on every node until it is back or its mount point is removed; one
mounted after start-up is watched and synced."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    Daemon,
    Mirror,
    Node,
    holds_for,
    inosync_argv,
    inosync_env,
    run_inosync,
    snapshot,
    wait_converged,
    wait_until,
)
from helpers.mountns import MountNamespace


@pytest.fixture
def ns() -> Iterator[MountNamespace]:
    space = MountNamespace()
    try:
        yield space
    finally:
        space.close()


def fill(top: Path, names: list[str], text: str = "on the filesystem") -> None:
    for name in names:
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(f"{text}: {name}")


DATA = ["a", "b", "deep/c", "deep/er/d", "e f"]


def kept(dst: Path, expected: dict[bytes, object]) -> bool:
    return snapshot(dst / "data") == expected


def mirror_with_a_mount(mirror, ns: MountNamespace, tmp_path: Path,  # type: ignore[no-untyped-def]
                        **keys: object) -> Mirror:
    m: Mirror = mirror(**keys)
    m.config_name = f"mounts-{os.getpid()}-{tmp_path.name}.toml"  # its own instance name
    fill(m.src / "keep", [f"f{i}" for i in range(20)], "on the parent filesystem")
    (m.src / "data").mkdir()
    ns.mount_tmpfs(m.src / "data")
    fill(ns.view(m.src / "data"), DATA)
    return m


@pytest.mark.parametrize("node_kind", ["local"])
def test_an_unmounted_filesystem_is_kept_on_the_nodes_across_reload_and_restart(
        mirror, sshd_factory, ns: MountNamespace, tmp_path: Path) -> None:
    m = mirror_with_a_mount(mirror, ns, tmp_path, metrics_file=str(tmp_path / "m.prom"))
    remote = tmp_path / "ssh-node"
    remote.mkdir()
    server = sshd_factory(binds={m.rpath: str(remote)})  # a second machine for the same rpath
    m.nodes[0].rsh = server.rsh
    m.nodes.append(Node("ssh", server.rnode, remote, rsh=server.rsh, server=server))
    # After a restart only fstab says the empty directory is a mount point.
    fstab = tmp_path / "fstab"
    point = os.fspath(m.src / "data").replace(" ", r"\040")
    fstab.write_text(f"tmpfs {point} tmpfs defaults 0 0\n")
    ns.run("mount", "--bind", fstab, "/etc/fstab")
    view = ns.view(m.src)
    d = m.start(prefix=ns.prefix)
    for node in m.nodes:
        wait_converged(view, node.dst, node.timeout, what=f"{node.kind}: the initial sync")
    expected = snapshot(view / "data")
    assert len(expected) == 7  # 5 files, 2 directories

    def still_there() -> bool:
        return all(kept(node.dst, expected) for node in m.nodes)

    def changes_elsewhere_arrive(name: str) -> None:
        (m.src / "keep" / name).write_text(name)
        for node in m.nodes:
            wait_converged(view / "keep", node.dst / "keep", node.timeout,
                           what=f"{node.kind}: {name} while the mount is lost")

    ns.run("umount", m.src / "data")
    changes_elsewhere_arrive("after-unmount")
    holds_for(still_there, 3, "the lost filesystem's copies on both nodes")
    d.wait_log(lambda text: "its filesystem was unmounted" in text, 10, "the loss noticed")
    d.wait_status(lambda s: "mount lost (data: " in s, 10, "the loss in STATUS")
    name = m.config.stem
    status = run_inosync("status", name)
    assert status.returncode == 2 and "mount lost" in status.stdout, status.stdout

    def counted_in_the_metrics() -> bool:
        lost = [line for line in (tmp_path / "m.prom").read_text().splitlines()
                if line.startswith(f'inosync_node_lost_mounts{{inosync_instance="{name}",')]
        return len(lost) == 2 and all(line.endswith("} 1") for line in lost)

    wait_until(counted_in_the_metrics, 10, "the lost mount counted in the metrics file")

    d.reload()  # a reload's full sync, counting pass and all
    d.wait_ready(30, count=2)
    changes_elsewhere_arrive("after-reload")
    holds_for(still_there, 2, "the copies after a reload")

    d.stop()
    d = Daemon(m.workdir, m.config, args=m.args, prefix=ns.prefix)
    assert m.registry is not None
    m.registry.append(d)
    d.start().wait_ready(60)
    changes_elsewhere_arrive("after-restart")
    holds_for(still_there, 2, "the copies after a restart")
    d.wait_log(lambda text: "which /etc/fstab lists" in text, 10, "the fstab entry noticed")
    d.wait_status(lambda s: "mount lost" in s, 10, "the loss in STATUS after the restart")
    verify = subprocess.run(  # the one-shot comparison and repair leave it alone too
        ns.prefix + inosync_argv("verify", "-c", str(m.config), "--repair"),
        env=inosync_env(), text=True, capture_output=True, timeout=60,
        stdin=subprocess.DEVNULL)
    assert still_there(), verify.stdout
    assert "nothing is mounted on it" in verify.stdout, verify.stdout + verify.stderr
    assert verify.returncode in (0, 1), verify.stdout + verify.stderr

    # The filesystem comes back (here: filled elsewhere, then moved into place).
    staging = tmp_path / "staging"
    staging.mkdir()
    ns.mount_tmpfs(staging)
    fill(ns.view(staging), DATA)
    for path in DATA:  # the same files, to the nanosecond
        stamp = os.stat(ns.view(m.src / "keep")).st_mtime_ns
        os.utime(ns.view(staging) / path, ns=(stamp, stamp))
    ns.run("mount", "--move", staging, m.src / "data")
    d.wait_log(lambda text: "with content is mounted again" in text, 10, "the return noticed")
    d.wait_in_sync(30)
    for node in m.nodes:
        wait_converged(view, node.dst, node.timeout, what=f"{node.kind}: mounted again")
    assert snapshot(m.nodes[1].dst / "data").keys() == expected.keys()


@pytest.mark.parametrize("node_kind", ["local"])
def test_removing_the_empty_mount_point_lets_the_deletion_through(
        mirror, ns: MountNamespace, tmp_path: Path) -> None:
    m = mirror_with_a_mount(mirror, ns, tmp_path)
    view = ns.view(m.src)
    d = m.start(prefix=ns.prefix)
    wait_converged(view, m.dst, 10, what="the initial sync")
    expected = snapshot(view / "data")
    ns.run("umount", "--lazy", m.src / "data")
    holds_for(lambda: kept(m.dst, expected), 3, "the copy while the mount point is there")
    d.wait_status(lambda s: "mount lost" in s, 10, "the loss in STATUS")
    ns.mount_tmpfs(m.src / "data")  # an empty filesystem in its place is no return
    d.wait_log(lambda text: "still protected until it holds something" in text, 10,
               "the empty filesystem noticed")
    holds_for(lambda: kept(m.dst, expected), 2, "the copy with an empty filesystem mounted")
    ns.run("umount", m.src / "data")
    (m.src / "data").rmdir()  # the operator: this filesystem is gone for good
    wait_converged(view, m.dst, 10, what="the deletion once the mount point is removed")
    assert not (m.dst / "data").exists()
    d.wait_in_sync(10)
    assert "the lost mount point was removed" in d.log()


@pytest.mark.parametrize("node_kind", ["local"])
def test_a_filesystem_mounted_after_start_is_watched_and_synced(
        mirror, ns: MountNamespace, tmp_path: Path) -> None:
    m: Mirror = mirror()
    fill(m.src / "keep", ["x", "y"])
    (m.src / "data").mkdir()
    view = ns.view(m.src)
    d = m.start(prefix=ns.prefix)
    wait_converged(view, m.dst, 10, what="the initial sync")
    staging = tmp_path / "staging"
    staging.mkdir()
    ns.mount_tmpfs(staging)
    fill(ns.view(staging), DATA, "already there")
    ns.run("mount", "--move", staging, m.src / "data")
    wait_converged(view, m.dst, 10, what="the files already on the new filesystem")
    fill(view / "data", ["later", "deep/er/later", "new/dir/file"], "written on the mount")
    wait_converged(view, m.dst, 10, what="files written on the mounted filesystem")
    assert (m.dst / "data" / "new" / "dir" / "file").read_text() == (
        "written on the mount: new/dir/file")
    d.wait_in_sync(10)
    # Another filesystem in its place at once: the same mount point, another mount.
    ns.mount_tmpfs(staging)
    fill(ns.view(staging), ["other/x"], "the second filesystem")
    ns.run("sh", "-c", 'umount "$1" && mount --move "$2" "$1"', "-", m.src / "data", staging)
    wait_converged(view, m.dst, 10, what="the filesystem that took its place")
    fill(view / "data", ["other/y", "z/z"], "written on the second filesystem")
    wait_converged(view, m.dst, 10, what="files written on the second filesystem")
    d.wait_in_sync(10)
