"""How a batch's renames reach the node before its rsync, and what each step's answer
means: over ssh one `mv` script, on a local node os.rename, on a node without mv (an rsync
daemon, an rrsync key) rebuilds from the old copies, one rsync each. A rename that did not
make it becomes "delete src, send dst" in the same batch."""

from __future__ import annotations

import logging
import time

from inosync.changes import Pending
from inosync.config.load import Config, Node
from inosync.node import restricted
from inosync.node.batch import Batch
from inosync.node.renames import rename_locally
from inosync.rsync.argv import Command
from inosync.rsync.backup import kept_dir
from inosync.rsync.moves import failed_moves, remote_moves
from inosync.rsync.outcomes import Outcome, classify_exit
from inosync.rsync.output import bytes_sent

log = logging.getLogger("inosync.node")
MAX_LINKED_MOVES = 16  # more renames in one batch to a node without mv: plain delete and send


def rebuilds(node: Node, confined: bool) -> bool:
    """No mv on the node: renames are rebuilt by rsync from the old copy, and the batch
    re-checks each destination."""
    return node.kind == "daemon" or confined


def first_step(cfg: Config, node: Node, control_path: str | None, confined: bool,
               batch: Batch, pending: Pending, dry_run: bool) -> Command | None:
    """The command that replays the batch's renames, or None: on to the batch's rsync."""
    moves = batch.moves
    if not moves:
        return None
    if node.kind == "ssh" and not confined:
        return remote_moves(cfg, node, control_path, moves)
    if node.kind == "local":
        batch.resend(rename_locally(cfg.rpath, node.name, moves, dry_run,
                                    kept_dir(cfg, node, time.time())), pending)
        return None
    batch.resend(range(len(moves)), pending)  # rebuilt from the old copy, then deleted
    batch.linked = restricted.linked_moves(cfg, node, control_path, moves, confined) \
        if len(moves) <= MAX_LINKED_MOVES else []
    return batch.linked.pop(0) if batch.linked else None


def next_step(name: str, rebuilt: bool, code: int, stdout: bytes, batch: Batch,
              pending: Pending) -> Command | None:
    """A step ended with `code`: the next rebuild, or None: on to the batch's rsync."""
    if rebuilt:
        if code not in (0, 24):
            log.debug("%s: rebuilding a renamed path from its old copy failed (exit %d); "
                      "the batch sends it instead", name, code)
        else:
            log.debug("%s: rebuilt a renamed path from its old copy, %s bytes sent", name,
                      bytes_sent(stdout))
        if batch.linked and classify_exit(code)[0] is not Outcome.TRANSIENT:
            return batch.linked.pop(0)
        batch.linked = []
        return None
    failed = failed_moves(stdout)
    if code != 0:  # the script did not run through: assume none of them moved
        failed = set(range(len(batch.moves)))
    batch.resend(sorted(failed), pending)
    log.debug("%s: replayed %d of %d moves", name, len(batch.moves) - len(failed),
              len(batch.moves))
    return None
