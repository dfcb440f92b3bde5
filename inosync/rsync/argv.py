"""Pure builders for the commands inosync runs: rsync's full, dry-run and batch syncs, the ssh
master and the probe.

Nothing here runs anything: argv tuples and stdin bytes go out, the node runs them. Paths
travel as bytes so names that are not UTF-8 survive (surrogateescape round-trips them).
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from inosync.changes import ROOT
from inosync.config.load import Config, Node
from inosync.rsync.backup import backup_options, kept_filter

IO_TIMEOUT_SECONDS = 60


SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
               "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3")


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


def common_options(cfg: Config, node: Node, control_path: str | None,
            log: bool = True) -> list[str]:
    # --modify-window=-1: compare mtimes to the nanosecond, so a file replaced by another of
    # the same size within the same second is not taken for unchanged. rsync would pass it
    # on as "-@-1", which rrsync refuses: through rrsync it goes as a long remote option.
    window = "-M--modify-window=-1" if node.rooted else "--modify-window=-1"
    argv = [cfg.rsync, "-a", "--force", window, f"--timeout={IO_TIMEOUT_SECONDS}",
            "--info=stats1"]
    if cfg.logfile and log:  # dry runs (counting passes, probes) change nothing: not logged
        argv.append(f"--log-file={cfg.logfile}")
    if cfg.rspeed:
        argv.append(f"--bwlimit={cfg.rspeed}")
    if log:  # (wall clock: the stamp names when the sync ran)
        argv += backup_options(cfg, node, time.time())
    argv += reach_options(cfg, node, control_path)
    argv += kept_filter(cfg) + [f"--exclude={pattern}" for pattern in cfg.rexcludes]
    argv += list(cfg.extra)
    return argv


def transport_options(cfg: Config, node: Node, control_path: str | None) -> list[str]:
    """rsync and how it reaches the node, with the user's extra options: what every run
    needs, even one that sends no tree (pruning, restoring)."""
    return [cfg.rsync, *reach_options(cfg, node, control_path),
            f"--timeout={IO_TIMEOUT_SECONDS}", *cfg.extra]


def reach_options(cfg: Config, node: Node, control_path: str | None) -> list[str]:
    """How rsync reaches the node: the remote shell, or the daemon's socket options."""
    if node.kind == "ssh":
        return ["-e", shlex.join(ssh_argv(cfg, control_path))]
    if node.kind == "daemon":
        # Without TCP_NODELAY each small run to an rsync daemon waits on delayed ACKs
        # (about 140 ms instead of 60 ms here; 30 ms with `socket options = TCP_NODELAY`
        # in the node's rsyncd.conf too).
        return ["--contimeout=10", "--sockopts=TCP_NODELAY"]
    return []



def node_dir(node: Node) -> str:
    """The node's directory as rsync's destination argument.

    A bare "user@host:" (rrsync's directory) stays bare: rsync then names the directory
    ".", which every rrsync accepts, where "host:/" is refused by some.
    """
    return node.dest if node.rooted else node.dest.rstrip("/") + "/"


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
    extraneous files are deleted, at most `delete_limit` of them (-1: no limit). 0 deletes
    nothing either but says how many deletions it held back: that is how a bounded full
    sync counts them in the same walk that sends. Above 0 the limit is only a safety net:
    the count before already decided that all of the deletions may go.
    """
    argv = common_options(cfg, node, control_path) + _skip(unreadable)
    if delete_limit is not None:
        argv.append("--delete")
        if delete_limit >= 0:
            argv.append(f"--max-delete={delete_limit}")
    argv += ["--", cfg.wpath.rstrip("/") + "/", node_dir(node)]
    return Command(tuple(argv))


def piece_sync(cfg: Config, node: Node, control_path: str | None, delete_limit: int | None,
               unreadable: Iterable[str], tops: Sequence[str], inside: Sequence[str]) -> Command:
    """Part of a full sync: the subtrees `tops` (ROOT: the whole tree), each recursively,
    but not the subtrees `inside` them that an earlier part sent, which it neither lists
    nor deletes in (sender-side excludes and protect rules, first, so no pattern of the
    user's overrides them, `--delete-excluded` included). The parts together are one
    full sync; `delete_limit` as there."""
    left = [rule for path in inside for rule in (
        f"--filter=-s {os.fsdecode(literal_pattern(path))}",
        f"--filter=P {os.fsdecode(literal_pattern(path))}")]
    whole = full_sync(cfg, node, control_path, delete_limit, unreadable).argv
    if tuple(tops) == (ROOT,):
        return Command((whole[0], *left, *whole[1:]))
    # -R keeps each top's place below wpath; one gone since the walk is left to its event,
    # and one that is a symlink now is sent as the link (no "/" after it to follow)
    top = cfg.wpath.rstrip("/")
    return Command((whole[0], *left, *whole[1:whole.index("--")], "-R",
                    "--ignore-missing-args", "--", *(f"{top}/./{path}" for path in tops),
                    node_dir(node)))


def _checksum(checksum: bool) -> list[str]:
    """Files whose size and mtime match are compared by their data too: what differs only
    there (a same-size rewrite the clock did not tell apart) is found and sent."""
    return ["--checksum"] if checksum else []


def whole_tree_dry_run(cfg: Config, node: Node, control_path: str | None,
                       unreadable: Iterable[str] = (), checksum: bool = False) -> Command:
    """The full sync as a dry run that itemizes what it would change and delete.

    It is how `check` and verification compare a node with the source, and how a full sync
    counts its deletions where the sync cannot: a reload's (they are drift too), or one
    whose rsync stopped deletions without saying how many. With `checksum` it compares the
    data of every file, not only its size and mtime (`inosync verify --checksum`).
    """
    argv = common_options(cfg, node, control_path, log=False) + _skip(unreadable) + \
        _checksum(checksum) + [
            "--delete", "--dry-run", "--itemize-changes", "--out-format=%i %n",
            "--", cfg.wpath.rstrip("/") + "/", node_dir(node)]
    return Command(tuple(argv))


def list_stdin(relpaths: Iterable[str]) -> bytes:
    """NUL-separated entries, each prefixed with "./" so "#x" or ";x" is not a comment."""
    return b"".join(b"./" + os.fsencode(path) + b"\0" for path in relpaths)


def batch_sync(cfg: Config, node: Node, control_path: str | None,
               relpaths: Sequence[str], unreadable: Iterable[str] = (),
               checksum: bool = False) -> Command:
    """One rsync for a batch: each listed file is sent or deleted, each dir resynced."""
    argv = common_options(cfg, node, control_path) + _skip(unreadable) + _checksum(checksum) + [
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
    argv = common_options(cfg, node, control_path, log=False) + [
        "--dry-run", "-d", "--", "/var/empty/" if os.path.isdir("/var/empty") else "/dev/null",
        node_dir(node)]
    return Command(tuple(argv))
