"""What the daemon checks once as it starts, before its first sync: the local rsync."""

from __future__ import annotations

import re

from inosync.config.load import Config
from inosync.process import run


def rsync_version_problem(version_line: str) -> str:
    """Versions whose --delete-missing-args loses deletions: before 3.2.3, and 3.4.3."""
    match = re.search(r"version (\d+)\.(\d+)\.(\d+)", version_line)
    if not match:
        return ""
    version = tuple(int(part) for part in match.groups())
    if version < (3, 2, 3) or version == (3, 4, 3):
        return (f"rsync {'.'.join(map(str, version))} mishandles --delete-missing-args, so "
                "deletions would not reach the node - install rsync 3.2.3 or later (not 3.4.3)")
    return ""


def local_rsync_problem(cfg: Config) -> str:
    """The rsync key names a binary that runs and is good enough, or this says why not."""
    ran = run([cfg.rsync, "--version"])
    if ran.code != 0:
        return (f"rsync: {cfg.rsync!r} does not run ({ran.message()}) - fix the rsync key "
                "(a binary on PATH or a full path)")
    problem = rsync_version_problem(ran.stdout.splitlines()[0] if ran.stdout else "")
    return f"rsync: this machine's {problem}" if problem else ""
