"""Nodes whose ssh key is confined by rrsync (`command="rrsync RPATH",restrict`).

Such a key runs nothing but `rsync --server` inside one directory, the node's rpath: no
shell, so renames cannot be replayed with mv, and every path is relative to that
directory. Rather than asking, inosync sends one shell command over the node's ssh before
its first sync and recognises rrsync's refusal. From then on the node is addressed as
"user@host:" (rrsync's directory), so every command builder follows unchanged, and renames
go through rsync alone (`rooted_move`).
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Sequence
from dataclasses import replace

from inosync.changes import Move
from inosync.config.load import Config, Node
from inosync.rsync import argv as rsync
from inosync.rsync.argv import Command
from inosync.rsync.moves import linked_move, rooted_move
from inosync.source.tree import excluded_below

log = logging.getLogger("inosync.node")
# Not "true": rrsync lets that one through, as a connectivity check.
SHELL_PROBE = "echo inosync-shell"
# rrsync's words for a command that is not rsync: the Python rrsync (3.2.4 and later)
# says "SSH_ORIGINAL_COMMAND does not run rsync", the Perl one before it "... is not rsync".
_REFUSAL = re.compile(rb"SSH_ORIGINAL_COMMAND\b.*\b(does not run|is not) rsync")


def probe(cfg: Config, node: Node, control_path: str | None) -> Command:
    """One cheap shell command over the node's ssh (its shared connection when up)."""
    return Command(rsync.ssh_argv(cfg, control_path) + (node.host, SHELL_PROBE))


def refused_by_rrsync(stderr: bytes) -> bool:
    return _REFUSAL.search(stderr) is not None


def verdict(code: int, stderr: bytes) -> bool | None:
    """True when rrsync refused the shell command, False when something else answered
    (a shell, or another forced command: renames then fall back to resending), None when
    ssh itself failed (exit 255, a signal) and the node must be asked again later."""
    if refused_by_rrsync(stderr):
        return True
    if code == 255 or code < 0:
        return None
    return False


def rooted(node: Node) -> Node:
    """The node addressed relative to rrsync's directory: "user@host:" alone."""
    return replace(node, dest=node.spec)


def linked_moves(cfg: Config, node: Node, control_path: str | None, moves: Sequence[Move],
                 restricted: bool) -> list[Command]:
    """The rsync runs that rebuild renamed paths from their old copies on a node that
    cannot run mv (an rsync daemon, or an rrsync key); renames whose names rrsync would
    not take unchanged are left out, and resent by the batch."""
    commands = []
    for index, move in enumerate(moves):
        excluded = excluded_below(cfg.wpath, cfg.rexcludes, move.dst)
        if not restricted:
            commands.append(linked_move(cfg, node, move, excluded))
        elif (command := rooted_move(cfg, node, control_path, move, excluded,
                                           origin_of(move.src, moves[:index]))):
            commands.append(command)
    return commands


def origin_of(path: str, earlier: Sequence[Move]) -> str:
    """Where `path` was before `earlier` renames: on a node that rebuilds renames, the old
    copy is still there (the batch deletes it only afterwards), complete, while the copy
    at the new name lacks whatever was moved out of it since."""
    for move in reversed(earlier):
        if path == move.dst or path.startswith(move.dst + "/"):
            path = move.src + path[len(move.dst):]
    return path


def resolve(cfg: Config, node: Node, timeout: float = 30.0) -> Node:
    """For one-shot commands (verify): ask the node now, as the daemon does before its
    first sync, and address it relative to rrsync's directory if its key is confined.
    A node that cannot be asked is returned as configured: its own rsync then says why."""
    if node.kind != "ssh":
        return node
    try:
        done = subprocess.run(probe(cfg, node, None).argv, capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return node
    return rooted(node) if verdict(done.returncode, done.stderr) else node


class Confinement:
    """What one ssh node answered: whether rrsync confines its key (None: not asked yet),
    and through which rsh, so a reload that changes rsh (a new key?) asks again."""

    def __init__(self, kind: str) -> None:
        self.confined: bool | None = None if kind == "ssh" else False
        self.asked_with: tuple[str, ...] = ()

    def must_ask(self, kind: str, rsh: tuple[str, ...]) -> bool:
        return kind == "ssh" and (self.confined is None or self.asked_with != rsh)

    def answered(self, found: bool, rsh: tuple[str, ...], configured: Node) -> Node:
        """The node as every command addresses it from now on."""
        self.confined, self.asked_with = found, rsh
        if not found:
            log.debug("%s: a shell answers on the node: renames are replayed with mv",
                      configured.name)
            return configured
        log.info("%s: restricted by rrsync on the node: paths are relative to its "
                 "directory (rpath), renames go through rsync alone", configured.name,
                 extra={"INOSYNC_NODE": configured.name})
        return rooted(configured)
