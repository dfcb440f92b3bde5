"""How a rename reaches a node without sending the data again: a remote `mv` script over
ssh, or the old copy offered to rsync on daemon and rrsync nodes (pure builders).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence

from inosync.changes import Move
from inosync.config.load import Config, Node
from inosync.rsync.argv import Command, common_options, literal_pattern, ssh_argv
from inosync.rsync.backup import kept_dir

MOVE_BASIS = "--copy-dest"


"""How a rename rebuilt on the node offers the old copy to rsync: the one rule for every
such rename (a daemon's directory and file, an rrsync node's directory and file).

The old copy is copied on the node, never hard-linked (--link-dest): linked, the two names
would share inodes, and the old name is often taken again at once (a rotated log directory
re-created, a release swapped back). rsync then changes the shared inode in place
whenever only attributes differ (chmod, chown, a touched mtime) and, with `--inplace`,
`--append*` or `--write-devices` in extra, for every write: the renamed copy would change
with it, and a verification repairing one name would break the other. A local copy costs
disk bandwidth on the node; the data still does not travel again.
"""


def linked_move(cfg: Config, node: Node, move: Move, excluded: Sequence[str]) -> Command:
    """Re-create a renamed path on an rsync-daemon node from its old copy, not the wire.

    A daemon cannot run mv. rsync into the new place with the old place as the basis:
    a directory from its old copy (`MOVE_BASIS`: unchanged files are copied on the
    node), a file against the old one (--fuzzy, with --copy-dest: only checksums travel).
    The old place is deleted by the batch that follows. `excluded` lists the excluded
    paths below the new place, relative to it.
    """
    src_parent, dst_parent = _parent(move.src), _parent(move.dst)
    if move.is_dir:
        link_dir = os.path.relpath(move.src or ".", move.dst or ".")
        source = os.path.join(cfg.wpath, move.dst) + "/"
        dest = node.dest.rstrip("/") + "/" + move.dst + "/"
        options = [f"{MOVE_BASIS}={link_dir}"]
    else:
        link_dir = os.path.relpath(src_parent or ".", dst_parent or ".")
        source = os.path.join(cfg.wpath, move.dst)
        dest = node.dest.rstrip("/") + "/" + (dst_parent + "/" if dst_parent else "")
        options = ["--fuzzy", "--fuzzy", f"--copy-dest={link_dir}", "--no-whole-file"]
    argv = common_options(cfg, node, None) + options + [
        "--mkpath", "--exclude-from=-", "--from0", "--", source, dest]
    return Command(tuple(argv), b"".join(literal_pattern(p) + b"\0" for p in excluded))


def rooted_move(cfg: Config, node: Node, control_path: str | None, move: Move,
                excluded: Sequence[str], origin: str = "") -> Command | None:
    """`linked_move` for a node whose key rrsync confines to rpath (dest "user@host:").

    rrsync refuses ".." in any path, so the old place cannot be named relative to the new
    one; an absolute basis (`MOVE_BASIS`) is rooted at
    rrsync's directory (3.2.x, 3.5.x). A file that kept its name is copied from
    the old directory like a directory's files; a renamed one is sent against the old file
    (--fuzzy twice: the old directory is searched too). `origin`, when given, is where the
    old copy was before the batch's earlier renames (which copy, not move, on such a
    node): it is offered as the first basis. It runs on the node's shared ssh connection.
    None when a name would not pass rrsync's word splitting unchanged (it globs wildcards
    and splits at control characters): that rename is then resent by the batch.
    """
    olds = list(dict.fromkeys(p for p in (origin, move.src) if p))  # fuzzy: first wins
    if not all(rrsync_safe(path) for path in (move.dst, *olds)):
        return None
    basis = MOVE_BASIS
    dst_parent = _parent(move.dst)
    if move.is_dir:
        source = os.path.join(cfg.wpath, move.dst) + "/"
        dest = node.dest + move.dst + "/"
        options = [f"{basis}=/{old}" for old in olds]
    else:
        source = os.path.join(cfg.wpath, move.dst)
        dest = node.dest + (dst_parent + "/" if dst_parent else "")
        options = ["--fuzzy", "--fuzzy", "--no-whole-file"] + [
            f"{basis}=/{parent}" for parent in dict.fromkeys(map(_parent, olds))]
    argv = common_options(cfg, node, control_path) + options + [
        "--mkpath", "--exclude-from=-", "--from0", "--", source, dest]
    return Command(tuple(argv), b"".join(literal_pattern(p) + b"\0" for p in excluded))


_RRSYNC_UNSAFE = re.compile(r"[*?\[\]{}\x00-\x1f\x7f]")


def rrsync_safe(relpath: str) -> bool:
    """rrsync splits the remote command at whitespace rsync leaves unescaped and globs
    path arguments: a name with a control character or a wildcard would change meaning."""
    return not _RRSYNC_UNSAFE.search(relpath)


def _parent(relpath: str) -> str:
    return relpath.rsplit("/", 1)[0] if "/" in relpath else ""


def sh_quote(path: bytes) -> bytes:
    return b"'" + path.replace(b"'", b"'\\''") + b"'"


MOVE_FAILED_PREFIX = b"inosync-move-failed "


def move_script(rpath: str, moves: Sequence[Move], keep: str = "") -> bytes:
    """A POSIX sh script that replays renames on a node and names the ones that failed.

    Missing parents of the destination are created first (they exist on the source and
    the batch that follows fixes their attributes). A move fails when its source is
    missing on the node or mv refuses (e.g. a directory onto a non-empty directory); the
    caller then re-syncs both ends instead. `keep` (keep_deleted): a file or link the
    rename replaces is moved there first, under its own name, as rsync's --backup-dir does.
    """
    lines = [b"cd -- " + sh_quote(os.fsencode(rpath)) + b" || exit 97",
             b"K=" + sh_quote(os.fsencode(keep)),
             b"m() { case $2 in */*) mkdir -p -- \"${2%/*}\" 2>/dev/null;; esac",
             b"  if [ -n \"$K\" ] && { [ -e \"$1\" ] || [ -L \"$1\" ]; } &&",
             b"     { [ -f \"$2\" ] || [ -L \"$2\" ]; }; then",
             b"    case $2 in */*) mkdir -p -- \"$K/${2%/*}\";; *) mkdir -p -- \"$K\";; esac",
             b"    mv -f -- \"$2\" \"$K/$2\"; fi",
             b"  mv -fT -- \"$1\" \"$2\" 2>/dev/null || echo \"" + MOVE_FAILED_PREFIX
             + b"$3\"; }"]
    for index, move in enumerate(moves):
        src, dst = os.fsencode(move.src), os.fsencode(move.dst)
        lines.append(b"m " + sh_quote(src) + b" " + sh_quote(dst) + b" " + str(index).encode())
    return b"\n".join(lines) + b"\n"


def remote_moves(cfg: Config, node: Node, control_path: str | None,
                 moves: Sequence[Move]) -> Command:
    return Command(ssh_argv(cfg, control_path) + (node.host, "sh -s"),
                   move_script(cfg.rpath, moves, kept_dir(cfg, node, time.time())))


def failed_moves(stdout: bytes) -> set[int]:
    failed = set()
    for line in stdout.splitlines():
        if line.startswith(MOVE_FAILED_PREFIX):
            failed.add(int(line[len(MOVE_FAILED_PREFIX):]))
    return failed
