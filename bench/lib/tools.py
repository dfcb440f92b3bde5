"""Run the daemons under test: inosync and lsyncd, each against a local or an ssh node.

Each run gets its own config, its own cgroup (for CPU), counting shims first in PATH and a log
captured line by line with the time each line arrived, so the harness can time "watches in"
and "initial sync done" from the daemon's own words without parsing its clock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lib.meters import CpuMeter, SpawnCounter
from lib.sshd import SshEndpoint

REPO = Path(__file__).resolve().parents[2]
# Which checkout's `inosync` package the daemon runs from (run.py --inosync-path changes it).
INOSYNC_PATH = REPO
INOSYNC_KEYS: list[str] = []  # extra config lines for inosync (run.py --inosync-key)


def use_inosync_path(path: Path | None) -> str:
    """Run inosync from `path` (--inosync-path); the problem with it, "" when fine."""
    global INOSYNC_PATH
    if path is None:
        return ""
    if not (path / "inosync" / "__main__.py").exists():
        return f"--inosync-path: {path}/inosync/__main__.py not found"
    INOSYNC_PATH = path.resolve()
    return ""
WATCHDOG_USEC = 10_000_000


@dataclass(frozen=True)
class Node:
    """Where the mirror goes: 'local' (a directory) or 'ssh' (root@127.0.0.1 via the proxy)."""

    kind: str
    endpoint: SshEndpoint | None = None

    def target(self, dst: Path) -> str:
        """rsync's destination argument for dst (with a trailing slash)."""
        return f"{dst}/" if self.kind == "local" else f"root@127.0.0.1:{dst}/"


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the table names it: inosync, lsyncd15 (its default delay) or lsyncd1."""

    name: str
    delay: float  # how long the tool holds events on purpose; deadlines add it


TOOLS: dict[str, ToolSpec] = {
    "inosync": ToolSpec("inosync", 0.0),
    "lsyncd15": ToolSpec("lsyncd15", 15.0),
    "lsyncd1": ToolSpec("lsyncd1", 1.0),
}


class LogTap:
    """Reads a daemon's output in a thread; keeps (arrival time, line) pairs and a file copy."""

    def __init__(self, stream: object, copy: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._copy = copy
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        with open(self._copy, "a", encoding="utf-8", errors="replace") as copy:
            for raw in stream:  # type: ignore[attr-defined]
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                copy.write(line + "\n")
                with self._cond:
                    self.lines.append((time.monotonic(), line))
                    self._cond.notify_all()

    def first(self, predicate: Callable[[str], bool], deadline: float,
              since: float = 0.0) -> float | None:
        """Arrival time of the first matching line at or after `since`; waits until deadline."""
        seen = 0
        with self._cond:
            while True:
                for t, line in self.lines[seen:]:
                    if t >= since and predicate(line):
                        return t
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.5))

    def line_at(self, t: float) -> str:
        """The first line that arrived at time t (to read numbers out of it)."""
        with self._cond:
            for when, line in self.lines:
                if when == t:
                    return line
        return ""

    def tail(self, n: int = 15) -> list[str]:
        with self._cond:
            return [line for _, line in self.lines[-n:]]

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class NotifySocket:
    """The NOTIFY_SOCKET a systemd service manager would offer; records what the daemon says."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[tuple[float, str, str]] = []  # (time, key, value)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._cond = threading.Condition()
        self._open = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._open:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self._cond:
                for line in data.decode("utf-8", errors="replace").splitlines():
                    key, _, value = line.partition("=")
                    self.messages.append((now, key, value))
                self._cond.notify_all()

    def first(self, predicate: Callable[[str, str], bool], deadline: float,
              since: float = 0.0) -> float | None:
        seen = 0
        with self._cond:
            while True:
                for t, key, value in self.messages[seen:]:
                    if t >= since and predicate(key, value):
                        return t
                seen = len(self.messages)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.5))

    def count(self, key: str, since: float, until: float) -> int:
        with self._cond:
            return sum(1 for t, k, _ in self.messages if k == key and since <= t <= until)

    def last_status(self) -> str:
        with self._cond:
            for _, key, value in reversed(self.messages):
                if key == "STATUS":
                    return value
        return ""

    def close(self) -> None:
        self._open = False
        self._sock.close()
        self._thread.join(1)


class Daemon:
    """One daemon process for one (tool, node, src, dst). Use as a context manager."""

    def __init__(self, tool: ToolSpec, node: Node, src: Path, dst: Path, workdir: Path,
                 spawns: SpawnCounter) -> None:
        self.tool, self.node, self.src, self.dst = tool, node, src, dst
        self.workdir, self.spawns = workdir, spawns
        self.cpu = CpuMeter()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: LogTap | None = None
        self.notify: NotifySocket | None = None
        self.started_at = 0.0

    # -- configs -------------------------------------------------------------------------
    def _inosync_argv(self) -> list[str]:
        rnode = "" if self.node.kind == "local" else "root@127.0.0.1:"
        lines = [
            f'wpath = "{self.src}"',
            f'rpath = "{self.dst}"',
            f'rnodes = ["{rnode}"]',
            'log_level = "info"',
            # The deletes workload removes a large share on purpose.
            "max_delete_share = 1.0",
        ]
        if self.node.endpoint is not None:
            lines.append(f'rsh = "{self.node.endpoint.rsh()}"')
        lines += [line.replace("=", " = ", 1) for line in INOSYNC_KEYS]
        config = self.workdir / "inosync.toml"
        config.write_text("\n".join(lines) + "\n")
        return [sys.executable, "-m", "inosync", "-c", str(config)]

    def _lsyncd_argv(self) -> list[str]:
        rsync_bin = self.spawns.path("rsync")
        common = (f'delay = {int(self.tool.delay)}, '
                  f'rsync = {{ binary = "{rsync_bin}", archive = true')
        if self.node.kind == "local":
            sync = (f'sync {{ default.rsync, source = "{self.src}", target = "{self.dst}", '
                    f'{common} }} }}')
        else:
            ep = self.node.endpoint
            assert ep is not None
            sync = (f'sync {{ default.rsyncssh, source = "{self.src}", host = "root@127.0.0.1", '
                    f'targetdir = "{self.dst}", {common}, '
                    f'rsh = "{ep.rsh(self.spawns.path("ssh"))}" }}, '
                    f'ssh = {{ binary = "{self.spawns.path("ssh")}", port = {ep.port}, '
                    f'identityFile = "{ep.key}", '
                    'options = { StrictHostKeyChecking = "no", '
                    'UserKnownHostsFile = "/dev/null", LogLevel = "ERROR", BatchMode = "yes" } } }')
        config = self.workdir / "lsyncd.lua"
        config.write_text("settings { nodaemon = true }\n" + sync + "\n")
        return ["lsyncd", "-nodaemon", str(config)]

    # -- life cycle ----------------------------------------------------------------------
    def __enter__(self) -> Daemon:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = dict(os.environ)
        env["PATH"] = self.spawns.env_path()
        if self.tool.name == "inosync":
            argv = self._inosync_argv()
            self.notify = NotifySocket(self.workdir / "notify.sock")
            env["NOTIFY_SOCKET"] = str(self.notify.path)
            # As under a unit with WatchdogSec=10: the idle row shows the pings it causes.
            env["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
            env.pop("WATCHDOG_PID", None)
            env["PYTHONPATH"] = os.pathsep.join(
                [str(INOSYNC_PATH), *filter(None, [env.get("PYTHONPATH")])])
            env["RUNTIME_DIRECTORY"] = str(self.workdir / "run")
            (self.workdir / "run").mkdir(exist_ok=True)
        else:
            argv = self._lsyncd_argv()
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.cpu.wrap(argv), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.workdir,
        )
        self.cpu.pid = self.proc.pid
        self.log = LogTap(self.proc.stdout, self.workdir / f"{self.tool.name}.log")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_watching(self, deadline: float) -> float | None:
        """When the daemon said its watches are in (arrival time of that log line)."""
        assert self.log is not None
        if self.tool.name == "inosync":
            return self.log.first(lambda s: "watching" in s and "director" in s, deadline)
        return self.log.first(lambda s: "recursive startup rsync" in s, deadline)

    def wait_ready(self, deadline: float) -> float | None:
        """When the initial sync was done: READY=1 (inosync) or lsyncd's 'Startup ... finished'."""
        while time.monotonic() < deadline:
            if self.tool.name == "inosync":
                assert self.notify is not None
                t = self.notify.first(lambda k, v: k == "READY" and v == "1",
                                      min(deadline, time.monotonic() + 0.5))
            else:
                assert self.log is not None
                t = self.log.first(lambda s: "Startup of" in s and "finished" in s,
                                   min(deadline, time.monotonic() + 0.5))
            if t is not None:
                return t
            if not self.alive():
                return None
        return None

    def wait_in_sync_status(self, since: float, deadline: float) -> float | None:
        """inosync only: first STATUS starting with 'in sync' after `since`."""
        if self.notify is None:
            return None
        return self.notify.first(lambda k, v: k == "STATUS" and v.startswith("in sync"),
                                 deadline, since)

    def stop(self) -> int | None:
        """SIGTERM the daemon by PID, SIGKILL after 10 s; then clear its cgroup."""
        code: int | None = None
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            code = self.proc.returncode
            if self.log is not None:
                self.log.join(2)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        self.cpu.close()
        if self.notify is not None:
            self.notify.close()
        return code
