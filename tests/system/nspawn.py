"""A real systemd booted in a systemd-nspawn container, for the system test.

Facts this relies on (checked on Debian 12 hosts and CI containers): the host's
PID 1 is not systemd, so nspawn must run with --keep-unit --register=no from a cgroup
of its own; the container's PID 1 is reached with nsenter; --volatile=overlay gives a
pristine root on every boot without copying. The root filesystem is built once with
mmdebstrap and cached as a zstd tarball keyed by everything that goes into it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

SUITE = "bookworm"
# What the image needs to run the .deb without a download: its dependencies
# (python3-systemd, rsync, openssh-client), sshd for an ssh node on 127.0.0.1,
# netbase, without which "localhost" does not resolve, and autopkgtest with the
# Depends of the package's test (debian/tests/control).
ROOTFS_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "netbase", "procps",
    "python3", "python3-systemd", "rsync", "openssh-client", "openssh-server",
    "python3-pytest", "python3-hypothesis", "python3-prometheus-client", "autopkgtest", "dpkg-dev",
)
# A cached image unused for this long is removed (another checkout may still use its own).
STALE_IMAGE_SECONDS = 7 * 24 * 3600
# Run in the image before it is packed (mmdebstrap customize hook; $1 is the root).
PREPARE_ROOT = r"""
set -e
root="$1"
rm -f "$root/etc/hostname"
: > "$root/etc/machine-id"
# Timers would take the dpkg lock in the middle of the test's install; the console
# getty and timesyncd have nothing to do in a box.
systemctl --root="$root" mask apt-daily.timer apt-daily-upgrade.timer \
    dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service \
    console-getty.service systemd-timesyncd.service >/dev/null 2>&1
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' > "$root/etc/systemd/journald.conf.d/volatile.conf"
"""
# The box needs nothing from the host's environment; a pyenv or venv PATH would only confuse.
BOX_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "TERM": "dumb",
           "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
CGROUP_ROOTS = ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str,
             interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = check()
        except AssertionError as error:  # a check may explain why it is not there yet
            last = error
        else:
            if last:
                return last  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; "
                                 f"last seen: {last!r}")
        time.sleep(interval)


def cache_dir() -> Path:
    return Path(os.environ.get("INOSYNC_TEST_CACHE", "/var/cache/inosync-test"))


def rootfs_key() -> str:
    mmdebstrap = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True,
                                check=True).stdout.strip()
    recipe = json.dumps([SUITE, ROOTFS_PACKAGES, PREPARE_ROOT, mmdebstrap])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def rootfs_tarball(log: Callable[[str], None] = print) -> Path:
    """The cached root filesystem tarball, built with mmdebstrap on first use."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tarball = directory / f"rootfs-{SUITE}-{rootfs_key()}.tar.zst"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, other runs wait for it
        if tarball.exists():
            os.utime(tarball)  # in use: not stale
            return tarball
        partial = directory / f"partial-{os.getpid()}.tar.zst"
        hook = directory / f"prepare-{os.getpid()}.sh"
        hook.write_text("#!/bin/sh\n" + PREPARE_ROOT)
        hook.chmod(0o755)
        log(f"building {tarball} with mmdebstrap (once)")
        started = time.monotonic()
        try:
            subprocess.run(
                ["mmdebstrap", "--mode=root", "--variant=minbase", "--quiet",
                 "--include=" + ",".join(ROOTFS_PACKAGES), f"--customize-hook={hook}",
                 SUITE, str(partial)],
                check=True, timeout=600, stdin=subprocess.DEVNULL)
            partial.rename(tarball)
        finally:
            partial.unlink(missing_ok=True)
            hook.unlink(missing_ok=True)
        log(f"rootfs built in {time.monotonic() - started:.0f}s")
        # Images of other recipes are removed once no run has used them for a while.
        for old in directory.glob(f"rootfs-{SUITE}-*.tar.zst"):
            if old != tarball and time.time() - old.stat().st_mtime > STALE_IMAGE_SECONDS:
                old.unlink(missing_ok=True)
        return tarball


class Box:
    """One booted container. Use as a context manager: the box always stops on exit."""

    def __init__(self, tarball: Path, name: str, workdir: Path) -> None:
        self.tarball = tarball
        self.name = name
        self.workdir = workdir
        self.root = workdir / "root"
        self.console_log = workdir / "console.log"
        self.cgroups = [Path(base) / name for base in CGROUP_ROOTS]
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.pid1 = 0

    def __enter__(self) -> Box:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.root.mkdir(parents=True)
        subprocess.run(["tar", "--zstd", "--numeric-owner", "--xattrs", "--xattrs-include=*",
                        "-xf", str(self.tarball), "-C", str(self.root)], check=True, timeout=120)
        for cgroup in self.cgroups:
            cgroup.mkdir(exist_ok=True)
        procs = " ".join(str(c / "cgroup.procs") for c in self.cgroups)
        # The shell moves itself into the cgroups, then becomes nspawn (setsid by Popen).
        launcher = f'for f in {procs}; do echo $$ > "$f"; done; exec "$@"'
        argv = ["systemd-nspawn", "-D", str(self.root), "--boot", "-M", self.name,
                "--console=read-only", "--keep-unit", "--register=no", "--volatile=overlay",
                # Only loopback inside: sshd on 127.0.0.1:22 is the box's own.
                "--private-network",
                # nspawn's own system call filter, which every service in the box runs
                # under, refuses fanotify; a host's services have no such filter.
                "--system-call-filter=fanotify_init fanotify_mark open_by_handle_at"]
        with open(self.console_log, "wb") as console:
            self.nspawn = subprocess.Popen(["sh", "-c", launcher, "sh", *argv],
                                           stdin=subprocess.DEVNULL, stdout=console,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        self.pid1 = wait_for(self._find_pid1, 30, "the container's systemd to start")
        state = wait_for(self._system_state, 60, "systemd to finish booting")
        if state != "running":
            failed = self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout
            raise AssertionError(f"box booted {state}: {failed}")

    def _find_pid1(self) -> int:
        assert self.nspawn is not None
        if self.nspawn.poll() is not None:
            raise RuntimeError("systemd-nspawn exited: " + self.console_tail())
        todo = [self.nspawn.pid]
        while todo:
            pid = todo.pop()
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except FileNotFoundError:
                continue
            if comm == "systemd" and pid != self.nspawn.pid:
                return pid
            todo.extend(int(child) for child in children)
        return 0

    def _system_state(self) -> str:
        result = self.run(["systemctl", "is-system-running", "--wait"], check=False,
                          timeout=60)
        state = result.stdout.strip()
        return state if state in ("running", "degraded") else ""

    def run(self, argv: Sequence[str], *, input: bytes | str | None = None,
            check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run argv inside the box; text output. Fails with its output when check fails."""
        data = input.encode() if isinstance(input, str) else input
        result = subprocess.run(["nsenter", "-t", str(self.pid1), "-a", *argv],
                                input=data, capture_output=True, env=BOX_ENV,
                                timeout=timeout, check=False)
        done = subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"))
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n"
                                 f"{done.stdout}{done.stderr}")
        return done

    def sh(self, script: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.run(["sh", "-ec", script], **kwargs)  # type: ignore[arg-type]

    def write(self, path: str, content: bytes | str, mode: str = "0644") -> None:
        """Write a file inside the box (over stdin: no shell quoting of the content)."""
        self.run(["sh", "-ec", 'mkdir -p "$(dirname "$1")"; cat > "$1"; chmod "$2" "$1"',
                  "sh", path, mode], input=content)

    def read(self, path: str) -> str | None:
        result = self.run(["cat", "--", path], check=False)
        return result.stdout if result.returncode == 0 else None

    def console_tail(self, lines: int = 40) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Halt the box (SIGTERM to nspawn is a clean poweroff), then remove its traces."""
        if self.nspawn is not None and self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait(timeout=10)
        self._kill_leftovers()
        for cgroup in self.cgroups:
            _remove_cgroup(cgroup)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        """Processes still in the box's cgroups after nspawn exited: only ones it started."""
        for cgroup in self.cgroups:
            if not cgroup.exists():
                continue
            for procs in cgroup.rglob("cgroup.procs"):
                for pid in procs.read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass


def _remove_cgroup(cgroup: Path) -> None:
    """rmdir a cgroup tree, deepest first, once its processes are gone."""
    if not cgroup.exists():
        return
    subdirs = sorted((p for p in cgroup.rglob("*") if p.is_dir()),
                     key=lambda p: len(p.parts), reverse=True)
    deadline = time.monotonic() + 10
    for directory in [*subdirs, cgroup]:
        while True:
            try:
                directory.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="inosync-box.", dir="/var/tmp"))
