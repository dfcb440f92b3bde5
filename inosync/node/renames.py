"""Renames a node could not replay, turned into "delete the old name, send the new one",
and renames replayed on a local node with os.rename."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

from inosync.changes import Move, rebase_through

log = logging.getLogger("inosync.node")


def resend_paths(moves: Sequence[Move], failed: Iterable[int]) -> list[tuple[str, str]]:
    """For each failed rename, both of its ends as (named in the batch, named now).

    Both ends are named as they are after the batch's later renames (which the node has
    replayed by the time rsync runs), so no path escapes under an old name (pure).
    """
    ends = []
    for index in failed:
        move, later = moves[index], moves[index + 1:]
        for path in (move.src, move.dst):
            ends.append((path, rebase_through(path, later)))
    return ends


def rename_locally(rpath: str, name: str, moves: Sequence[Move], dry_run: bool,
                   keep: str = "") -> list[int]:
    """Replay renames on a local node; the indexes of those that failed. `keep`
    (keep_deleted): a file or link a rename replaces is moved there first."""
    failed = []
    for index, move in enumerate(moves):
        src, dst = os.path.join(rpath, move.src), os.path.join(rpath, move.dst)
        if dry_run:
            log.info("dry run: would rename %r to %r", src, dst)
            continue
        try:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if keep and os.path.lexists(src) and os.path.lexists(dst) and (
                    os.path.islink(dst) or not os.path.isdir(dst)):
                kept = os.path.join(keep, move.dst)
                os.makedirs(os.path.dirname(kept), exist_ok=True)
                os.rename(dst, kept)
            os.rename(src, dst)
        except OSError as error:
            log.debug("%s: rename %r -> %r failed (%s); resending", name, src, dst,
                      error.strerror)
            failed.append(index)
    return failed
