"""The commands that look after what nodes keep (`keep_deleted`), as pure builders:
pruning, and listing and fetching kept copies for `inosync restore`.

Pruning is rsync alone (an empty directory synced over the kept stamps old enough to go),
so it works where no shell does: rrsync keys and rsync daemons.
"""

from __future__ import annotations

import os

from inosync.config.load import Config, Node
from inosync.rsync.argv import Command, transport_options
from inosync.rsync.backup import STAMP_RE, STAMP_SHAPE, kept_dest, newer_patterns, stamp


def prune(cfg: Config, node: Node, control_path: str | None, wall: float,
          empty_dir: str) -> Command:
    """Delete the kept stamps older than keep_deleted; nothing else in the kept directory.
    The kept directory is made (mode 0700, so a web server running as another user cannot
    serve it) when it is not there yet."""
    cutoff = stamp(wall - cfg.keep_deleted)
    rules = [f"--filter=- /{pattern}" for pattern in newer_patterns(cutoff)]
    rules += [f"--filter=+ /{STAMP_SHAPE}/***", "--filter=- *"]
    argv = transport_options(cfg, node, control_path) + [
        "-r", "-p", "--chmod=D0700", "--delete", "--mkpath", *rules, "--",
        empty_dir.rstrip("/") + "/", kept_dest(node)]
    return Command(tuple(argv))


def _literal(part: str) -> str:
    for char in ("\\", "*", "?", "["):
        part = part.replace(char, "\\" + char)
    return part


def list_copies(cfg: Config, node: Node, relpath: str) -> Command:
    """List every kept copy of `relpath` (and what is below it) on the node."""
    parts = [_literal(p) for p in relpath.strip("/").split("/") if p]
    rules = ["--filter=+ /*/"]
    rules += [f"--filter=+ /*/{'/'.join(parts[:n])}/" for n in range(1, len(parts))]
    rules += [f"--filter=+ /*/{'/'.join(parts)}", f"--filter=+ /*/{'/'.join(parts)}/***",
              "--filter=- *"]
    argv = transport_options(cfg, node, None) + ["-r", "--list-only", *rules, "--",
                                                  kept_dest(node)]
    return Command(tuple(argv))


def copies_in(listing: bytes, relpath: str) -> list[str]:
    """The stamps holding `relpath` itself, oldest first, from `list_copies`' output."""
    wanted = relpath.strip("/")
    found = []
    for line in listing.decode("utf-8", "surrogateescape").splitlines():
        fields = line.split(None, 4)
        if len(fields) < 5:
            continue
        head, _, rest = fields[4].partition("/")
        if STAMP_RE.fullmatch(head) and rest == wanted:
            found.append(head)
    return sorted(set(found))


def fetch_copy(cfg: Config, node: Node, stamp_name: str, relpath: str,
               target_parent: str) -> Command:
    """Bring one kept copy back into `target_parent` (a directory on this machine)."""
    source = kept_dest(node) + stamp_name + "/" + relpath.strip("/")
    argv = transport_options(cfg, node, None) + [
        "-a", "--mkpath", "--", source, target_parent.rstrip("/") + "/"]
    return Command(tuple(argv))


def restore_targets(wpath: str, relpath: str, into: str | None) -> tuple[str, str]:
    """(the path restored to, the directory rsync writes it into)."""
    top = into or wpath
    target = os.path.normpath(os.path.join(top, relpath.strip("/")))
    return target, os.path.dirname(target)
