"""Where nodes keep what syncs delete or overwrite (`keep_deleted`): the names and
rsync's backup options (pure).

Each sync keeps what it deletes or overwrites under rpath/.inosync-kept/STAMP/, STAMP being
the sync's start in UTC to the millisecond ("2026-12-03T164158.123Z"), so names sort by age.
The directory is excluded from every sync and comparison, so it is never sent, deleted or
reported as drift.
"""

from __future__ import annotations

import re
import time

from inosync.config.load import Config, Node

KEPT_DIR = ".inosync-kept"
STAMP_SHAPE = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]." \
    "[0-9][0-9][0-9]Z"  # the same as an rsync pattern
STAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d{6}\.\d{3}Z")


def stamp(wall: float) -> str:
    """A sync's kept directory name: its start, UTC, to the millisecond."""
    whole = int(wall)
    return time.strftime("%Y-%m-%dT%H%M%S", time.gmtime(whole)) + \
        f".{int((wall - whole) * 1000):03d}Z"


def kept_root(node: Node, rpath: str) -> str:
    """The kept directory as rsync on the node names it: rrsync roots absolute paths at its
    own directory (rpath), an rsync daemon at its module, everyone else at /."""
    if node.rooted:
        return "/" + KEPT_DIR
    return rpath.rstrip("/") + "/" + KEPT_DIR


def kept_dest(node: Node) -> str:
    """The kept directory as an rsync destination or source argument."""
    if node.rooted:
        return node.dest + KEPT_DIR + "/"
    return node.dest.rstrip("/") + "/" + KEPT_DIR + "/"


def kept_filter(cfg: Config) -> list[str]:
    """Every sync and comparison leaves the kept directory alone."""
    return [f"--exclude=/{KEPT_DIR}/"] if cfg.keep_deleted else []


def backup_options(cfg: Config, node: Node, wall: float) -> list[str]:
    """What a changing sync adds: deleted and overwritten files go to this sync's stamp."""
    if not cfg.keep_deleted:
        return []
    return ["--backup", f"--backup-dir={kept_dir(cfg, node, wall)}"]


def kept_dir(cfg: Config, node: Node, wall: float) -> str:
    """This sync's kept directory as the node names it, "" when keep_deleted is off: where
    a rename replayed on the node moves the file it replaces."""
    return f"{kept_root(node, cfg.rpath)}/{stamp(wall)}" if cfg.keep_deleted else ""


def newer_patterns(cutoff: str) -> list[str]:
    """rsync patterns matching every stamp at or after `cutoff` (stamps sort by age: each
    names a prefix of the cutoff followed by a greater digit)."""
    patterns = [cutoff]
    for at, char in enumerate(cutoff):
        if char.isdigit() and char != "9":
            patterns.append(f"{cutoff[:at]}[{int(char) + 1}-9]*")
    return patterns
