"""Counters read around a workload: CPU of a daemon's whole process tree, spawned processes.

CPU: each daemon runs in a cgroup of its own (cgroup v2, the unified hierarchy, also present
in hybrid set-ups at /sys/fs/cgroup/unified). cpu.stat's usage_usec counts every process that
ever ran in the group, including short-lived rsyncs and a forked-off ssh ControlMaster that a
/proc walk would miss or double count. Where no cgroup can be made, the fallback is the
daemon's own utime+stime+cutime+cstime from /proc/PID/stat (exact for children it reaped,
blind to orphans); the result says which method was used.

Processes: `rsync` and `ssh` in a shim directory placed first in the daemon's PATH (and named
explicitly where a tool takes an absolute binary path). Each shim appends one byte to a counter
file and execs the real binary, so the count is the file's size.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cgroup2_root() -> Path | None:
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    return None


class CpuMeter:
    """CPU seconds of a process tree; start the process through `wrap(argv)`."""

    _serial = 0

    def __init__(self) -> None:
        self.cgroup: Path | None = None
        self.pid: int | None = None
        root = _cgroup2_root()
        if root is not None:
            CpuMeter._serial += 1
            path = root / f"inosync-bench-{os.getpid()}-{CpuMeter._serial}"
            try:
                path.mkdir()
                if (path / "cpu.stat").exists():
                    self.cgroup = path
                else:
                    path.rmdir()
            except OSError:
                self.cgroup = None

    @property
    def method(self) -> str:
        return "cgroup2 cpu.stat" if self.cgroup else "/proc/PID/stat incl. reaped children"

    def wrap(self, argv: list[str]) -> list[str]:
        """argv that joins the cgroup, then execs the real command (same PID)."""
        if self.cgroup is None:
            return argv
        procs = str(self.cgroup / "cgroup.procs")
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, *argv]

    def seconds(self) -> float:
        """CPU seconds used so far by the tree (user + system)."""
        if self.cgroup is not None:
            for line in (self.cgroup / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return 0.0
        if self.pid is None:
            return 0.0
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()
        # fields[11..14] = utime stime cutime cstime (stat fields 14..17)
        return sum(int(x) for x in fields[11:15]) / CLK_TCK

    def leftover_pids(self) -> list[int]:
        if self.cgroup is None:
            return []
        try:
            return [int(x) for x in (self.cgroup / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def close(self) -> None:
        """End what the daemon left behind in its cgroup (by PID), then remove the cgroup."""
        if self.cgroup is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.leftover_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 3
            while self.leftover_pids() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self.leftover_pids():
                break
        with contextlib.suppress(OSError):
            self.cgroup.rmdir()
        self.cgroup = None


class SpawnCounter:
    """Shims for rsync and ssh that count how often each is started."""

    TOOLS = ("rsync", "ssh")

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "shims"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.real: dict[str, str] = {}
        for name in self.TOOLS:
            real = shutil.which(name)
            if real is None:
                raise RuntimeError(f"{name} not found in PATH; run bash bench/setup")
            self.real[name] = real
            counter = self.dir / f"{name}.count"
            counter.write_bytes(b"")
            shim = self.dir / name
            shim.write_text(f'#!/bin/sh\nprintf x >> "{counter}"\nexec "{real}" "$@"\n')
            shim.chmod(0o755)

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def env_path(self) -> str:
        return f"{self.dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"

    def counts(self) -> dict[str, int]:
        return {n: (self.dir / f"{n}.count").stat().st_size for n in self.TOOLS}


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM in KiB and context switches summed over the process's threads."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        switches = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        out["ctxt_switches"] = switches
    except OSError:
        pass
    return out
