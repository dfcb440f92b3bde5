"""A private mount namespace for tests that mount and unmount filesystems for real.

A `sleep infinity` started by `unshare --mount` holds the namespace; commands (the daemon
under test, mount, umount) enter it with `nsenter`. The test process's own namespace is
never changed: it reaches paths as the namespace sees them through /proc/PID/root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest


class MountNamespace:
    def __init__(self) -> None:
        if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
            pytest.skip("needs root, unshare and nsenter for a private mount namespace")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sleep", "infinity"],
            stdin=subprocess.DEVNULL, start_new_session=True)
        ours = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        while self._namespace() in ("", ours):  # until unshare has exec'd sleep
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("unshare --mount did not start a mount namespace", pytrace=False)
            time.sleep(0.01)

    def _namespace(self) -> str:
        try:
            return os.readlink(f"/proc/{self.proc.pid}/ns/mnt")
        except OSError:
            return ""

    @property
    def prefix(self) -> list[str]:
        """Put before an argv to run it inside the namespace."""
        return ["nsenter", "-t", str(self.proc.pid), "-m", "--"]

    def run(self, *argv: str | os.PathLike[str]) -> None:
        done = subprocess.run(self.prefix + [os.fspath(a) for a in argv], text=True,
                              capture_output=True, stdin=subprocess.DEVNULL)
        if done.returncode:
            pytest.fail(f"{' '.join(map(os.fspath, argv))}: exit {done.returncode}: "
                        f"{done.stderr.strip()}", pytrace=False)

    def mount_tmpfs(self, where: Path) -> None:
        self.run("mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", where)

    def view(self, path: Path) -> Path:
        """`path` as the namespace sees it (mounts included), from outside."""
        return Path(f"/proc/{self.proc.pid}/root") / path.relative_to("/")

    def close(self) -> None:
        self.proc.kill()  # the namespace and its mounts go with its last process
        self.proc.wait()
