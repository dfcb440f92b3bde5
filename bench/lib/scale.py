"""The scale benchmark (`run.py --scale`): big trees at start-up, many nodes for one change.

Start-up: a tree of N directories with one small file each, an empty local node; inosync and
lsyncd (delay 1) are started on it and timed until their watches are in and until the
initial sync is done, next to the floor (one plain `rsync -a` of the same tree). Fan-out:
K rsync-daemon modules, then K ssh nodes behind one sshd, on loopback; one lone write at a
time, timed until it is on the first node and on all K; then a burst, with the rsync runs
it cost per node.
Trees live on tmpfs and are deleted after each run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib.meters import SpawnCounter, proc_status
from lib.sshd import free_port
from lib.tools import TOOLS, Daemon, Node
from lib.trees import Probe, make_tree, remove_tree, small_content, wait_converged, write_file

WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
MARK_SLABS = ("inotify_inode_mark", "fsnotify_mark_connector")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class ScaleResult:
    """One row: a start-up (kind 'startup') or a fan-out (kind 'fanout') measurement."""

    kind: str
    tool: str
    size: int  # directories (start-up) or nodes (fan-out)
    ok: bool = False
    error: str = ""
    values: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "tool": self.tool, "size": self.size, "ok": self.ok,
                "error": self.error, **self.values}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ScaleResult:
        fields = ("kind", "tool", "size", "ok", "error")
        return cls(doc["kind"], doc["tool"], doc["size"], doc["ok"], doc["error"],
                   {k: float(v) for k, v in doc.items() if k not in fields})


# -- helpers -------------------------------------------------------------------------------

@contextlib.contextmanager
def watch_limit_at_least(needed: int) -> Iterator[None]:
    """Raise fs.inotify.max_user_watches for the run if it is too low; restore it after."""
    before = int(WATCHES.read_text())
    if before >= needed:
        yield
        return
    WATCHES.write_text(str(needed))
    try:
        yield
    finally:
        WATCHES.write_text(str(before))


def mount_tmpfs(path: Path) -> bool:
    """A tmpfs of the run's own on `path`: /dev/shm holds about 3 M inodes (half the RAM's
    pages), and the 1 M tree and its copy need 4 M. Memory is only used as files are made."""
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "nr_inodes=0,size=75%,mode=0700",
                           "inosync-scale", str(path)], capture_output=True)
    return done.returncode == 0


def mark_slab_bytes() -> int | None:
    """Kernel memory in the slab caches that hold inotify marks (SLUB's sysfs, root only).

    The caches may be merged with others of the same object size, so this is read as a
    difference around the start-up, where a million new marks dwarf everything else.
    """
    total = 0
    for name in MARK_SLABS:
        folder = Path("/sys/kernel/slab") / name
        try:
            objects = int((folder / "objects").read_text().split()[0])
            total += objects * int((folder / "slab_size").read_text())
        except (OSError, ValueError, IndexError):
            return None
    return total


def own_cpu(pid: int) -> float:
    """utime + stime of one process (not its children): inosync's own work."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def make_big_tree(root: Path, dirs: int) -> Probe:
    rels = make_tree(root / "tree", dirs, dirs)
    return Probe(present={f"tree/{r}": len(small_content(r)) for r in rels})


# -- start-up ------------------------------------------------------------------------------

def startup_floor(base: Path, dirs: int) -> ScaleResult:
    result = ScaleResult("startup", "floor", dirs)
    try:
        make_big_tree(base / "src", dirs)
        (base / "dst").mkdir()
        # What listing the tree costs Python at all: the yardstick for "watches in".
        t0 = time.monotonic()
        for _ in os.walk(base / "src"):
            pass
        result.values["os_walk_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        proc = subprocess.run(["rsync", "-a", f"{base / 'src'}/", f"{base / 'dst'}/"])
        result.values["ready_s"] = time.monotonic() - t0
        result.ok = proc.returncode == 0
        result.error = "" if result.ok else f"rsync exit {proc.returncode}"
    except Exception as exc:  # a broken run is a row with an error
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        remove_tree(base)
    return result


def startup_tool(base: Path, tool: str, dirs: int, timeout: float) -> ScaleResult:
    result = ScaleResult("startup", tool, dirs)
    try:
        _startup_tool(base, tool, timeout, result)
    except Exception as exc:  # a broken run is a row with an error
        result.ok, result.error = False, f"{type(exc).__name__}: {exc}"
    finally:
        remove_tree(base)
    return result


def _startup_tool(base: Path, tool: str, timeout: float, result: ScaleResult) -> None:
    src, dst, work = base / "src", base / "dst", base / "work"
    probe = make_big_tree(src, result.size)
    dst.mkdir()
    work.mkdir()
    slab0 = mark_slab_bytes()
    with Daemon(TOOLS[tool], Node("local"), src, dst, work, SpawnCounter(work)) as daemon:
        t0 = daemon.started_at
        deadline = t0 + timeout
        watching = daemon.wait_watching(deadline)
        if watching is not None:
            result.values["watches_s"] = watching - t0
            assert daemon.log is not None
            own = re.search(r"\bin (\d+) ms", daemon.log.line_at(watching))
            if own:  # inosync's own count: the walk and add_watch alone
                result.values["watches_own_s"] = int(own.group(1)) / 1000
            slab = mark_slab_bytes()
            if slab is not None and slab0 is not None:
                result.values["kernel_marks_MiB"] = (slab - slab0) / 2**20
        conv = wait_converged(src, dst, probe, deadline, poll=0.02, alive=daemon.alive,
                              verify=False)
        ready = daemon.wait_ready(max(deadline, time.monotonic() + 10))
        assert daemon.proc is not None
        status = proc_status(daemon.proc.pid)
        if ready is not None:
            result.values["ready_s"] = ready - t0
        for key in ("VmRSS", "VmHWM"):
            if key in status:
                result.values[f"{key}_MiB"] = status[key] / 1024
        result.ok = conv.converged and ready is not None and watching is not None
        if not result.ok:
            result.error = "; ".join(conv.problems) or "no readiness or watch line"
            if daemon.log is not None:
                result.error += " | " + " / ".join(daemon.log.tail(5))


# -- fan-out -------------------------------------------------------------------------------

class RsyncDaemon:
    """One `rsync --daemon` on 127.0.0.1 with a module per node (m00, m01, ...)."""

    def __init__(self, home: Path, modules: int) -> None:
        self.home = home
        self.port = free_port()
        self.paths = [home / f"m{i:02d}" for i in range(modules)]
        lines = [f"pid file = {home / 'rsyncd.pid'}", "max connections = 0",
                 f"log file = {home / 'rsyncd.log'}"]
        for index, path in enumerate(self.paths):
            (path / "dst").mkdir(parents=True)
            lines += [f"[m{index:02d}]", f"    path = {path}", "    read only = false",
                      "    use chroot = false", "    uid = root", "    gid = root"]
        (home / "rsyncd.conf").write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def rnodes(self) -> list[str]:
        return [f"rsync://127.0.0.1:{self.port}/m{i:02d}" for i in range(len(self.paths))]

    def __enter__(self) -> RsyncDaemon:
        self.proc = subprocess.Popen(
            ["rsync", "--daemon", "--no-detach", f"--config={self.home / 'rsyncd.conf'}",
             f"--port={self.port}", "--address=127.0.0.1"],
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                        timeout=0.5):
                return self
            time.sleep(0.02)
        raise RuntimeError("rsync --daemon did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: it and its forks
            self.proc.wait(5)


class ManyNodeSshd:
    """One sshd on 127.0.0.1 behind K ssh nodes "root@n00:" ... with a directory each.

    The nodes are host aliases in an ssh_config of their own (HostName 127.0.0.1, and
    `SetEnv INOSYNC_BENCH_NODE=nNN`). They share rpath (`view`): a session runs in a mount
    namespace of its own with its node's directory bind-mounted on `view` (sshd's
    ForceCommand), so K ssh nodes are K distinct targets, each with its own ssh master
    connection, behind one sshd. (sshd listens on at most 16 addresses, so 127.0.0.N per
    node would stop at 16.)
    """

    def __init__(self, home: Path, nodes: int) -> None:
        self.home = home
        self.view = home / "view"
        self.view.mkdir(parents=True)
        self.names = [f"n{i:02d}" for i in range(nodes)]
        self.paths = [home / name for name in self.names]
        for path in self.paths:
            path.mkdir()
        self.key = home / "client_ed25519"
        host_key = home / "host_ed25519"
        for key in (host_key, self.key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
        (home / "authorized_keys").write_bytes(self.key.with_suffix(".pub").read_bytes())
        self.port = free_port()
        session = home / "session.sh"
        session.write_text(
            "#!/bin/sh\n"
            'case "$INOSYNC_BENCH_NODE" in n[0-9][0-9]) ;; *) echo "unknown node" >&2; '
            "exit 1;; esac\n"
            f"exec unshare --mount sh -c 'mount --bind \"$0/$1\" \"$2\" && "
            f"exec sh -c \"$SSH_ORIGINAL_COMMAND\"' {home} \"$INOSYNC_BENCH_NODE\" "
            f"{self.view}\n")
        session.chmod(0o755)
        (home / "sshd_config").write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"PidFile {home / 'sshd.pid'}", f"AuthorizedKeysFile {home / 'authorized_keys'}",
            "StrictModes no", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "MaxStartups 200",
            "MaxSessions 200", "LogLevel ERROR", "AcceptEnv INOSYNC_BENCH_NODE",
            f"ForceCommand {session}", ""]))
        lines = []
        for name in self.names:
            lines += [f"Host {name}", "    HostName 127.0.0.1",
                      f"    SetEnv INOSYNC_BENCH_NODE={name}"]
        lines += ["Host *", f"    Port {self.port}", f"    IdentityFile {self.key}",
                  "    StrictHostKeyChecking no", "    UserKnownHostsFile /dev/null",
                  "    LogLevel ERROR", ""]
        self.ssh_config = home / "ssh_config"
        self.ssh_config.write_text("\n".join(lines))
        self.proc: subprocess.Popen[bytes] | None = None

    def rnodes(self) -> list[str]:
        return [f"root@{name}:" for name in self.names]

    def rsh(self) -> str:
        return f"ssh -F {self.ssh_config}"

    def __enter__(self) -> ManyNodeSshd:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with open(self.home / "sshd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f",
                 str(self.home / "sshd_config")],
                stdin=subprocess.DEVNULL, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.02)
        raise RuntimeError("sshd did not start: "
                           + (self.home / "sshd.log").read_text(errors="replace")[-300:])

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: sshd + sessions
            self.proc.wait(5)


class FanoutDaemon(Daemon):
    """inosync with K rsync-daemon nodes (tools.Daemon writes a one-node config)."""

    rnodes: list[str] = []
    rpath = "/dst"
    extra_keys: list[str] = []

    def _inosync_argv(self) -> list[str]:
        nodes = ", ".join(f'"{n}"' for n in self.rnodes)
        lines = [f'wpath = "{self.src}"', f'rpath = "{self.rpath}"', f"rnodes = [{nodes}]",
                 'log_level = "info"', *self.extra_keys]
        config = self.workdir / "inosync.toml"
        config.write_text("\n".join(lines) + "\n")
        return [sys.executable, "-m", "inosync", "-c", str(config)]


def _visible(path: Path, data: bytes) -> bool:
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def lone_writes(src: Path, dests: list[Path], writes: int, interval: float,
                timeout: float) -> tuple[list[float], list[float]]:
    """Write one small file at a time; (first node, last node) latency of each write."""
    first: list[float] = []
    last: list[float] = []
    (src / "lat").mkdir(exist_ok=True)
    for i in range(writes):
        rel = f"lat/w{i:03d}.txt"
        data = small_content(rel, f"write {i} at {time.time()}")
        write_file(src / rel, data)
        t0 = time.monotonic()
        waiting = list(dests)
        seen: list[float] = []
        while waiting and time.monotonic() - t0 < timeout:
            still = [d for d in waiting if not _visible(d / rel, data)]
            now = time.monotonic()
            seen += [now - t0] * (len(waiting) - len(still))
            waiting = still
            if waiting:
                time.sleep(0.002)
        if waiting:
            raise RuntimeError(f"write {i}: {len(waiting)} of {len(dests)} nodes never got it")
        first.append(seen[0])
        last.append(seen[-1])
        time.sleep(interval)
    return first, last


def fanout(base: Path, kind: str, nodes: int, writes: int, burst_files: int,
           burst_dirs: int, timeout: float, extra_keys: list[str]) -> ScaleResult:
    """kind: "daemon" (rsync-daemon modules) or "ssh" (ManyNodeSshd)."""
    result = ScaleResult("fanout", f"inosync/{kind}", nodes)
    src, work = base / "src", base / "work"
    try:
        make_tree(src / "base", 1000, 100, prefix="b")
        work.mkdir()
        server: RsyncDaemon | ManyNodeSshd
        if kind == "daemon":
            server = RsyncDaemon(base / "rsyncd", nodes)
            dests = [path / "dst" for path in server.paths]
            FanoutDaemon.rpath, keys = "/dst", []
        else:
            server = ManyNodeSshd(base / "sshd", nodes)
            dests = list(server.paths)
            FanoutDaemon.rpath, keys = str(server.view), [f'rsh = "{server.rsh()}"']
        with server:
            for dst in dests:
                subprocess.run(["rsync", "-a", f"{src}/", f"{dst}/"], check=True)
            FanoutDaemon.rnodes = server.rnodes()
            FanoutDaemon.extra_keys = keys + extra_keys
            spawns = SpawnCounter(work)
            with FanoutDaemon(TOOLS["inosync"], Node("local"), src, dests[0], work,
                              spawns) as daemon:
                if daemon.wait_ready(time.monotonic() + timeout) is None:
                    raise RuntimeError("never ready: " + " / ".join(daemon.log.tail(5)
                                                                    if daemon.log else []))
                time.sleep(0.5)
                assert daemon.proc is not None
                pid = daemon.proc.pid
                cpu0, own0 = daemon.cpu.seconds(), own_cpu(pid)
                first, last = lone_writes(src, dests, writes, 0.3, timeout)
                time.sleep(0.3)
                cpu1, own1 = daemon.cpu.seconds(), own_cpu(pid)
                per = writes * nodes
                result.values.update({
                    "first_p50_s": statistics.median(first),
                    "all_p50_s": statistics.median(last),
                    "all_max_s": max(last),
                    "cpu_per_change_node_ms": (cpu1 - cpu0) / per * 1000,
                    "own_cpu_per_change_node_ms": (own1 - own0) / per * 1000})
                # A burst: many files at once; how long until every node has all of them,
                # and how many rsync runs each node needed.
                runs0 = spawns.counts()["rsync"]
                t0 = time.monotonic()
                rels = make_tree(src / "burst", burst_files, burst_dirs)
                ended = time.monotonic()
                expected = {f"burst/{r}": len(small_content(r)) for r in rels}
                for dst in dests:
                    conv = wait_converged(src, dst, Probe(present=dict(expected)),
                                          ended + timeout, poll=0.005, alive=daemon.alive,
                                          verify=False)
                    if not conv.converged:
                        raise RuntimeError(f"burst never reached {dst}: {conv.problems}")
                result.values["burst_all_s"] = time.monotonic() - ended
                result.values["burst_write_s"] = ended - t0
                time.sleep(0.5)
                result.values["burst_rsyncs_per_node"] = (
                    spawns.counts()["rsync"] - runs0) / nodes
                result.ok = daemon.alive()
                if not result.ok:
                    result.error = "daemon died"
    except Exception as exc:  # a broken run is a row with an error
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        remove_tree(base)
    return result


# -- report --------------------------------------------------------------------------------

def _f(values: dict[str, float], key: str, fmt: str = "{:.1f}") -> str:
    return fmt.format(values[key]) if key in values else "-"


def markdown(results: list[ScaleResult]) -> str:
    lines: list[str] = []
    startup = [r for r in results if r.kind == "startup"]
    if startup:
        lines += ["| directories (+ as many files) | tool | watches in (s) | ready (s) "
                  "| x floor | RSS (MiB) | kernel marks (MiB) |", "|" + "---|" * 7]
        walks = {r.size: r.values.get("os_walk_s") for r in startup if r.tool == "floor"}
        floors = {r.size: r.values.get("ready_s") for r in startup if r.tool == "floor"}
        for r in sorted(startup, key=lambda r: (r.size, r.tool != "floor", r.tool)):
            v = r.values
            ratio = (f"{v['ready_s'] / floors[r.size]:.2f}"
                     if r.tool != "floor" and floors.get(r.size) and "ready_s" in v else "-")
            note = "" if r.ok else f" **FAILED**: {r.error[:120]}"
            tool = "floor: 1 rsync" if r.tool == "floor" else r.tool
            watches = _f(v, "watches_s")
            if r.tool == "floor" and "os_walk_s" in v:
                watches = f"os.walk alone: {v['os_walk_s']:.1f}"
            elif "watches_own_s" in v and walks.get(r.size):
                watches += (f" (walk + add_watch {v['watches_own_s']:.1f}, "
                            f"{v['watches_own_s'] / walks[r.size]:.2f}x os.walk)")
            lines.append(f"| {r.size:,} | {tool} | {watches} | {_f(v, 'ready_s')} "
                         f"| {ratio} | {_f(v, 'VmRSS_MiB', '{:.0f}')} "
                         f"| {_f(v, 'kernel_marks_MiB', '{:.0f}')} |{note}")
    fan = [r for r in results if r.kind == "fanout"]
    if fan:
        if lines:
            lines.append("")
        lines += ["| nodes | lone write: first node p50 (s) | on all nodes p50 / max (s) "
                  "| CPU per change per node (ms): all / inosync's own | burst: on all (s) "
                  "| rsyncs per node |", "|" + "---|" * 6]
        for r in sorted(fan, key=lambda r: (r.tool, r.size)):
            v = r.values
            note = "" if r.ok else f" **FAILED**: {r.error[:120]}"
            kind = "rsync daemon" if r.tool.endswith("daemon") else "ssh"
            lines.append(
                f"| {r.size} {kind} | {_f(v, 'first_p50_s', '{:.3f}')} "
                f"| {_f(v, 'all_p50_s', '{:.3f}')} / {_f(v, 'all_max_s', '{:.3f}')} "
                f"| {_f(v, 'cpu_per_change_node_ms')} / {_f(v, 'own_cpu_per_change_node_ms')} "
                f"| {_f(v, 'burst_all_s', '{:.2f}')} "
                f"| {_f(v, 'burst_rsyncs_per_node')} |{note}")
    return "\n".join(lines)


def plot(results: list[ScaleResult], path: Path) -> None:
    """Two panels: start-up time against tree size, lone-write latency against nodes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    startup = [r for r in results if r.kind == "startup" and r.ok]
    series = [("floor", "ready_s", "floor: one rsync -a", "k:"),
              ("inosync", "ready_s", "inosync: ready", "C0-o"),
              ("inosync", "watches_s", "inosync: watches in", "C0--^"),
              ("lsyncd1", "ready_s", "lsyncd: ready", "C3-s"),
              ("lsyncd1", "watches_s", "lsyncd: watches in", "C3--v")]
    for tool, key, label, style in series:
        points = sorted((r.size, r.values[key]) for r in startup
                        if r.tool == tool and key in r.values)
        if points:
            left.plot([p[0] / 1000 for p in points], [p[1] for p in points], style,
                      label=label)
    left.set_xlabel("directories (+ one file each), thousands")
    left.set_ylabel("seconds from start")
    left.set_title("Start-up on a big tree (tmpfs, local node)")
    left.grid(alpha=0.3)
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    for tool, name, color in (("inosync/daemon", "rsync daemon", "C0"), ("inosync/ssh", "ssh",
                                                                          "C2")):
        fan = sorted((r for r in results if r.kind == "fanout" and r.ok and r.tool == tool),
                     key=lambda r: r.size)
        if fan:
            sizes = [r.size for r in fan]
            right.plot(sizes, [r.values["first_p50_s"] for r in fan], f"{color}--o",
                       label=f"{name}: on the first node (p50)")
            right.plot(sizes, [r.values["all_p50_s"] for r in fan], f"{color}-s",
                       label=f"{name}: on all nodes (p50)")
    ticks = sorted({r.size for r in results if r.kind == "fanout" and r.ok})
    if ticks:
        right.set_xticks(ticks)
    right.set_xlabel("nodes (on loopback)")
    right.set_ylabel("seconds after the write")
    right.set_title("One small write, fanned out")
    right.grid(alpha=0.3)
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -- entry point ---------------------------------------------------------------------------

def run(base: Path, dirs: list[int], nodes: list[int], tools: list[str], floor: bool,
        writes: int, burst: tuple[int, int], extra_keys: list[str],
        progress: Any, node_kinds: tuple[str, ...] = ("daemon", "ssh")) -> list[ScaleResult]:
    results: list[ScaleResult] = []
    with watch_limit_at_least(max(dirs, default=0) * 2 + 100_000):
        for size in dirs:
            timeout = 120 + size / 2000  # 1 M directories: about 10 min at most
            for tool in (["floor"] if floor else []) + tools:
                progress(f"# startup / {size:,} dirs / {tool} ...")
                root = base / f"startup-{size}-{tool}"
                if tool == "floor":
                    result = startup_floor(root, size)
                else:
                    result = startup_tool(root, tool, size, timeout)
                progress(f"  -> {'ok' if result.ok else 'FAILED ' + result.error}; "
                         f"{result.values}")
                results.append(result)
    for kind in node_kinds:
        for count in nodes:
            progress(f"# fanout / {count} {kind} nodes ...")
            result = fanout(base / f"fanout-{kind}-{count}", kind, count, writes, burst[0],
                            burst[1], 60.0, extra_keys)
            progress(f"  -> {'ok' if result.ok else 'FAILED ' + result.error}; "
                     f"{result.values}")
            results.append(result)
    return results


def parse_int_list(text: str) -> list[int]:
    return [int(float(x)) for x in re.split(r"[,\s]+", text.strip()) if x]
