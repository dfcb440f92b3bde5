"""A filesystem of the tests' own for the fanotify backend, and which backend a run uses.

A filesystem mark sees every change on its filesystem: on the machine's root filesystem
the daemon under test would read every other program's writes too. So a run with
INOSYNC_TEST_WATCHER=fanotify puts pytest's temporary directories on a loop-mounted ext4
image made for the run (root only), and every tree a test makes lives there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

WATCHER = os.environ.get("INOSYNC_TEST_WATCHER", "")  # "" leaves the config's default
IMAGE_SIZE = "4G"  # sparse: only what the tests write takes space


def unavailable() -> str:
    """Why a loop-mounted ext4 cannot be made here ("" when it can)."""
    if os.geteuid() != 0:
        return "needs root (a loop mount, and fanotify needs CAP_SYS_ADMIN)"
    missing = [tool for tool in ("mkfs.ext4", "mount", "umount") if not shutil.which(tool)]
    return f"needs {', '.join(missing)}" if missing else ""


class LoopFilesystem:
    """An ext4 image in a temporary directory, mounted below it."""

    def __init__(self, size: str = IMAGE_SIZE) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="inosync-fanotify-"))
        self.image = self.base / "ext4.img"
        self.root = self.base / "mnt"
        self.root.mkdir()
        self._run("truncate", "-s", size, str(self.image))
        # one inode per 4 KiB: trees of many small directories fit
        self._run("mkfs.ext4", "-q", "-F", "-i", "4096", str(self.image))
        self._run("mount", "-o", "loop", str(self.image), str(self.root))

    @staticmethod
    def _run(*argv: str) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode:
            raise OSError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")

    def close(self) -> None:
        # lazily, should a child of a failed test still hold a file there
        subprocess.run(["umount", "-l", str(self.root)], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
