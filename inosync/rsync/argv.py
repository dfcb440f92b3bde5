"""Pure builders for the commands inosync runs, and the policy for rsync's exit codes.

Nothing here runs anything: argv tuples and stdin bytes go out, the node runs them. Paths
travel as bytes so names that are not UTF-8 survive (surrogateescape round-trips them).
"""

from __future__ import annotations

import enum
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from inosync.changes import Move
from inosync.config.load import Config, Node

IO_TIMEOUT_SECONDS = 60
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
               "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3")


class Outcome(enum.Enum):
    OK = "ok"                # done (24: files vanished meanwhile; their events follow)
    PARTIAL = "partial"      # 23: some paths failed, retry the batch
    TRANSIENT = "transient"  # network, ssh, timeouts: retry with backoff
    GUARD = "guard"          # 25: --max-delete stopped a mass delete; do not retry
    ERROR = "error"          # anything else: log loudly with stderr, retry with backoff


EXIT_CODES: dict[int, tuple[Outcome, str]] = {
    0: (Outcome.OK, "success"),
    1: (Outcome.ERROR, "syntax or usage error"),
    2: (Outcome.ERROR, "protocol incompatibility"),
    3: (Outcome.ERROR, "errors selecting input/output files or dirs"),
    4: (Outcome.ERROR, "requested action not supported"),
    5: (Outcome.TRANSIENT, "error starting client-server protocol"),
    6: (Outcome.ERROR, "daemon unable to append to log file"),
    10: (Outcome.TRANSIENT, "error in socket I/O"),
    11: (Outcome.TRANSIENT, "error in file I/O"),
    12: (Outcome.TRANSIENT, "error in rsync protocol data stream"),
    13: (Outcome.ERROR, "errors with program diagnostics"),
    14: (Outcome.TRANSIENT, "error in IPC code"),
    20: (Outcome.TRANSIENT, "received SIGUSR1 or SIGINT"),
    21: (Outcome.TRANSIENT, "some error returned by waitpid()"),
    22: (Outcome.TRANSIENT, "error allocating core memory buffers"),
    23: (Outcome.PARTIAL, "partial transfer due to error"),
    24: (Outcome.OK, "some source files vanished"),
    25: (Outcome.GUARD, "--max-delete limit stopped deletions"),
    30: (Outcome.TRANSIENT, "timeout in data send/receive"),
    35: (Outcome.TRANSIENT, "timeout waiting for daemon connection"),
    255: (Outcome.TRANSIENT, "ssh connection failed"),
}


def classify_exit(code: int) -> tuple[Outcome, str]:
    """Sort an rsync exit status; unknown codes are errors, never fatal to the daemon."""
    if code < 0:
        return Outcome.TRANSIENT, f"killed by signal {-code}"
    return EXIT_CODES.get(code, (Outcome.ERROR, f"unknown exit code {code}"))


@dataclass(frozen=True)
class Command:
    """A process to start: argv plus what to feed on stdin."""

    argv: tuple[str, ...]
    stdin: bytes = b""

    def describe(self) -> str:
        text = shlex.join(self.argv)
        if self.stdin:
            entries = self.stdin.count(b"\0") or self.stdin.count(b"\n")
            text += f"  <<< {entries} entries on stdin"
        return text


def ssh_argv(cfg: Config, control_path: str | None) -> tuple[str, ...]:
    """The remote shell command: the user's rsh, hardened, on the node's shared connection."""
    argv = list(cfg.rsh) + list(SSH_OPTIONS)
    if control_path:
        argv += ["-o", f"ControlPath={control_path}", "-o", "ControlMaster=no"]
    return tuple(argv)


def _common(cfg: Config, node: Node, control_path: str | None,
            log: bool = True) -> list[str]:
    # --modify-window=-1: compare mtimes to the nanosecond, so a file replaced by another of
    # the same size within the same second is not taken for unchanged. rsync would pass it
    # on as "-@-1", which rrsync refuses: through rrsync it goes as a long remote option.
    window = "-M--modify-window=-1" if in_rrsync(node) else "--modify-window=-1"
    argv = [cfg.rsync, "-a", "--force", window, f"--timeout={IO_TIMEOUT_SECONDS}",
            "--info=stats1"]
    if cfg.logfile and log:  # dry runs (counting passes, probes) change nothing: not logged
        argv.append(f"--log-file={cfg.logfile}")
    if cfg.rspeed:
        argv.append(f"--bwlimit={cfg.rspeed}")
    if node.kind == "ssh":
        argv += ["-e", shlex.join(ssh_argv(cfg, control_path))]
    if node.kind == "daemon":
        # Without TCP_NODELAY each small run to an rsync daemon waits on delayed ACKs
        # (about 140 ms instead of 60 ms here; 30 ms with `socket options = TCP_NODELAY`
        # in the node's rsyncd.conf too).
        argv += ["--contimeout=10", "--sockopts=TCP_NODELAY"]
    argv += [f"--exclude={pattern}" for pattern in cfg.rexcludes]
    argv += list(cfg.extra)
    return argv


def in_rrsync(node: Node) -> bool:
    """A node addressed as a bare "user@host:": its key is confined by rrsync to rpath."""
    return node.kind == "ssh" and node.dest.endswith(":")


def node_dir(node: Node) -> str:
    """The node's directory as rsync's destination argument.

    A bare "user@host:" (rrsync's directory) stays bare: rsync then names the directory
    ".", which every rrsync accepts, where "host:/" is refused by some.
    """
    return node.dest if in_rrsync(node) else node.dest.rstrip("/") + "/"


def max_delete_for(share: float, source_entries: int) -> int:
    """How many deletions keep a full sync under `share` of the node.

    The node holds about source_entries + deletions entries after the deletions are
    counted, so deletions / (source + deletions) <= share gives this bound. 0 means none
    (rsync then only warns about extraneous files).
    """
    if share >= 1:
        return -1  # no limit
    return int(share / (1 - share) * source_entries)


def _skip(unreadable: Iterable[str]) -> list[str]:
    """Source paths rsync could not read: left out (and left alone on the node) until an
    event says they changed, so one bad file does not fail every run and stop deletions."""
    return [f"--exclude={os.fsdecode(literal_pattern(path))}" for path in sorted(unreadable)]


def full_sync(cfg: Config, node: Node, control_path: str | None,
              delete_limit: int | None, unreadable: Iterable[str] = ()) -> Command:
    """One recursive rsync of the whole tree.

    `delete_limit` None sends new and changed files and deletes nothing; otherwise
    extraneous files are deleted, at most `delete_limit` of them (-1: no limit). The limit
    is only a safety net: the counting pass before it already decided that all of the
    deletions may go.
    """
    argv = _common(cfg, node, control_path) + _skip(unreadable)
    if delete_limit is not None:
        argv.append("--delete")
        if delete_limit >= 0:
            argv.append(f"--max-delete={delete_limit}")
    argv += ["--", cfg.wpath.rstrip("/") + "/", node_dir(node)]
    return Command(tuple(argv))


def whole_tree_dry_run(cfg: Config, node: Node, control_path: str | None,
                       unreadable: Iterable[str] = ()) -> Command:
    """The full sync as a dry run that itemizes what it would change and delete.

    It counts the deletions a full sync would make (the delete bound is all-or-nothing),
    and it is how `check` and verification compare a node with the source.
    """
    argv = _common(cfg, node, control_path, log=False) + _skip(unreadable) + [
        "--delete", "--dry-run", "--itemize-changes", "--out-format=%i %n",
        "--", cfg.wpath.rstrip("/") + "/", node_dir(node)]
    return Command(tuple(argv))


@dataclass(frozen=True)
class Itemized:
    """One line of --itemize-changes: what rsync would do to `path` (relative to rpath)."""

    change: str  # rsync's 11-letter code, or "*deleting"
    path: str

    @property
    def is_deletion(self) -> bool:
        return self.change == "*deleting"


# The code is padded to 11 columns ("*deleting" too), then one space: a name may begin
# with spaces of its own.
_ITEM = re.compile(rb"^([<>ch.*][fdLDS.][^ ]{9}|\*deleting  ) (.*)$")


def parse_itemized(stdout: bytes) -> list[Itemized]:
    """The itemized lines of rsync's output; statistics and messages are skipped.

    rsync writes unprintable bytes in names as \\#ooo, and a directory with a trailing "/".
    """
    items = []
    for line in stdout.split(b"\n"):
        match = _ITEM.match(line)
        if match is None:
            continue
        raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), match.group(2))
        path = os.fsdecode(raw.rstrip(b"/")) or "."
        items.append(Itemized(match.group(1).decode("ascii", "replace").rstrip(), path))
    return items


def list_stdin(relpaths: Iterable[str]) -> bytes:
    """NUL-separated entries, each prefixed with "./" so "#x" or ";x" is not a comment."""
    return b"".join(b"./" + os.fsencode(path) + b"\0" for path in relpaths)


def batch_sync(cfg: Config, node: Node, control_path: str | None,
               relpaths: Sequence[str], unreadable: Iterable[str] = ()) -> Command:
    """One rsync for a batch: each listed file is sent or deleted, each dir resynced."""
    argv = _common(cfg, node, control_path) + _skip(unreadable) + [
        "-r", "--delete", "--delete-missing-args", "--files-from=-", "--from0",
        "--", cfg.wpath.rstrip("/") + "/", node_dir(node)]
    return Command(tuple(argv), list_stdin(relpaths))


def literal_pattern(relpath: str) -> bytes:
    """An anchored rsync pattern that matches exactly this path and nothing else."""
    raw = os.fsencode(relpath)
    if any(ch in raw for ch in b"*?["):
        for ch in (b"\\", b"*", b"?", b"["):
            raw = raw.replace(ch, b"\\" + ch)
    return b"/" + raw


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
    argv = _common(cfg, node, None) + options + [
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
    argv = _common(cfg, node, control_path) + options + [
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


def move_script(rpath: str, moves: Sequence[Move]) -> bytes:
    """A POSIX sh script that replays renames on a node and names the ones that failed.

    Missing parents of the destination are created first (they exist on the source and
    the batch that follows fixes their attributes). A move fails when its source is
    missing on the node or mv refuses (e.g. a directory onto a non-empty directory); the
    caller then re-syncs both ends instead.
    """
    lines = [b"cd -- " + sh_quote(os.fsencode(rpath)) + b" || exit 97",
             b"m() { case $2 in */*) mkdir -p -- \"${2%/*}\" 2>/dev/null;; esac",
             b"  mv -fT -- \"$1\" \"$2\" 2>/dev/null || echo \"" + MOVE_FAILED_PREFIX
             + b"$3\"; }"]
    for index, move in enumerate(moves):
        src, dst = os.fsencode(move.src), os.fsencode(move.dst)
        lines.append(b"m " + sh_quote(src) + b" " + sh_quote(dst) + b" " + str(index).encode())
    return b"\n".join(lines) + b"\n"


def remote_moves(cfg: Config, node: Node, control_path: str | None,
                 moves: Sequence[Move]) -> Command:
    return Command(ssh_argv(cfg, control_path) + (node.host, "sh -s"),
                   move_script(cfg.rpath, moves))


def failed_moves(stdout: bytes) -> set[int]:
    failed = set()
    for line in stdout.splitlines():
        if line.startswith(MOVE_FAILED_PREFIX):
            failed.add(int(line[len(MOVE_FAILED_PREFIX):]))
    return failed


def ssh_master(cfg: Config, node: Node, control_path: str) -> Command:
    """A persistent multiplexed connection that later ssh and rsync calls ride on."""
    argv = list(cfg.rsh) + list(SSH_OPTIONS) + [
        "-o", f"ControlPath={control_path}", "-o", "ControlMaster=yes",
        "-o", "ControlPersist=no", "-N", node.host]
    return Command(tuple(argv))


def probe(cfg: Config, node: Node, control_path: str | None) -> Command:
    """Check a node: rsync reachable and rpath writable, without changing anything.

    A dry run of an empty directory into rpath asks the receiver to open rpath.
    """
    argv = _common(cfg, node, control_path, log=False) + [
        "--dry-run", "-d", "--", "/var/empty/" if os.path.isdir("/var/empty") else "/dev/null",
        node_dir(node)]
    return Command(tuple(argv))


_SENDER_FAILURE = re.compile(rb'^rsync: \[sender\] [^"\n]*"([^"\n]*)"(?: failed)?: ([^\n]*)$',
                             re.MULTILINE)
_ESCAPE = re.compile(rb"\\#([0-7]{3})")


_UNREADABLE_ERRNOS = (b"(1)", b"(5)", b"(13)")  # EPERM, EIO, EACCES: not a race


def sender_failures(stderr: bytes, wpath: str) -> dict[str, str]:
    """Source paths rsync's sender could not read, relative to wpath, with the reason.

    Only permission and I/O errors count: ENOENT or ENOTDIR mean the tree changed under
    rsync, and the events that follow bring the path back in its new shape.
    """
    top = os.fsencode(wpath.rstrip("/")) + b"/"
    found = {}
    for match in _SENDER_FAILURE.finditer(stderr):
        if not match.group(2).rstrip().endswith(_UNREADABLE_ERRNOS):
            continue
        raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), match.group(1))
        if raw.startswith(top) and len(raw) > len(top):
            found[os.fsdecode(raw[len(top):])] = match.group(2).decode("utf-8", "replace")
    return found


_SENT = re.compile(rb"sent ([\d,.]+) bytes\s+received ([\d,.]+) bytes")


def bytes_sent(stdout: bytes) -> int | None:
    """Bytes rsync says it sent, from --info=stats1 output."""
    match = _SENT.search(stdout)
    if not match:
        return None
    return int(match.group(1).replace(b",", b"").replace(b".", b""))
