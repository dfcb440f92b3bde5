"""One measured run: a tool, a node, a workload; and the floor (one plain rsync) for comparison.

Every run starts from fresh directories, so no run inherits another's page cache state or
leftovers beyond what the kernel keeps. Counters are read as deltas around the workload.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lib.meters import SpawnCounter, proc_status
from lib.tools import Daemon, Node, ToolSpec
from lib.trees import Probe, remove_tree, wait_converged
from lib.workloads import Idle, Startup, Workload, Writer

SETTLE_S = 1.0  # after convergence, let trailing work finish before reading CPU/process counts


@dataclass
class RunResult:
    """One row of the table (see bench/README.md for what each field means)."""

    tool: str
    node: str
    workload: str
    ok: bool = False
    error: str = ""
    converge_s: float | None = None  # end of the workload -> destination equals source
    total_s: float | None = None  # start of the workload -> destination equals source
    cpu_s: float | None = None
    rsync_procs: int | None = None
    ssh_procs: int | None = None
    ssh_bytes: int | None = None
    verify_s: float | None = None  # duration of the whole-tree comparison that confirmed it
    extras: dict[str, float] = field(default_factory=dict)
    log_tail: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plain_rsync(src: Path, dst: Path, node: Node) -> subprocess.Popen[bytes]:
    argv = ["rsync", "-a", "--delete"]
    if node.endpoint is not None:
        argv += ["-e", node.endpoint.rsh()]
    return subprocess.Popen([*argv, f"{src}/", node.target(dst)])


def presync(src: Path, dst: Path) -> None:
    """Make dst equal to src before a daemon starts (local copy, not measured)."""
    subprocess.run(["rsync", "-a", "--delete", f"{src}/", f"{dst}/"], check=True)


def _bytes(node: Node) -> int | None:
    return node.endpoint.bytes_total() if node.endpoint is not None else None


def run_floor(workload: Workload, node: Node, root: Path, repeat: int = 3) -> RunResult:
    """One `rsync -a --delete` of the whole tree after the change (exact rusage via wait4).

    A single rsync's time varies by a few tens of percent from run to run here, so the change
    is synced `repeat` times from the same starting destination (restored from a copy) and the
    median run is reported; min and max go to the extras.
    """
    result = RunResult(tool="floor", node=node.kind, workload=workload.name)
    src, dst, before = root / "src", root / "dst", root / "dst-before"
    try:
        workload.prepare(src)
        dst.mkdir(parents=True)
        if workload.presync:
            presync(src, dst)
        if isinstance(workload, Writer):
            _writer_alone(workload, src, repeat, result)
            _sync_alone(workload, src, dst, node, result)
            return result
        subprocess.run(["cp", "-a", str(dst), str(before)], check=True)
        probe = workload.change_at_once(src)
        runs: list[tuple[float, float, int | None]] = []  # (seconds, cpu, bytes)
        for i in range(repeat):
            if i:
                remove_tree(dst)
                subprocess.run(["cp", "-a", str(before), str(dst)], check=True)
            bytes0 = _bytes(node)
            t0 = time.monotonic()
            proc = plain_rsync(src, dst, node)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            t1 = time.monotonic()
            sent = None if bytes0 is None else (_bytes(node) or 0) - bytes0
            runs.append((t1 - t0, usage.ru_utime + usage.ru_stime, sent))
            conv = wait_converged(src, dst, copy.deepcopy(probe), time.monotonic() + 30)
            if not conv.converged or proc.returncode:
                result.error = "; ".join(conv.problems) or f"rsync exit {proc.returncode}"
                return result
            result.verify_s = conv.verify_s
        seconds, cpu, sent = sorted(runs)[len(runs) // 2]
        result.ok = True
        result.converge_s = result.total_s = seconds
        result.cpu_s = cpu
        result.ssh_bytes = sent
        result.rsync_procs = 1
        result.ssh_procs = 1 if node.endpoint is not None else 0
        result.extras = {"min_s": min(r[0] for r in runs), "max_s": max(r[0] for r in runs),
                         "runs": float(len(runs))}
    finally:
        remove_tree(root)
    return result


def _writer_alone(workload: Writer, src: Path, repeat: int, result: RunResult) -> None:
    """The writer with no tool running: `repeat` extractions into the same place (the last
    one's tree removed first), median reported."""
    runs: list[tuple[float, float]] = []
    for _ in range(repeat):
        remove_tree(src / workload.top)
        runs.append(workload.write(src))
    seconds, cpu = sorted(runs)[len(runs) // 2]
    result.ok = True
    result.converge_s = result.total_s = seconds
    result.cpu_s = cpu
    result.rsync_procs = result.ssh_procs = 0
    result.extras = {"writer_s": seconds, "writer_cpu_s": cpu, "runs": float(len(runs)),
                     "min_s": min(r[0] for r in runs), "max_s": max(r[0] for r in runs)}


def _sync_alone(workload: Writer, src: Path, dst: Path, node: Node, result: RunResult) -> None:
    """What the writer made, sent by one plain rsync into a node without it: with the
    writer's time, the floor of a deploy from its first byte to the node's last."""
    t0 = time.monotonic()
    code = plain_rsync(src, dst, node).wait()
    result.extras["sync_s"] = time.monotonic() - t0
    conv = wait_converged(src, dst, workload.probe(), time.monotonic() + 30)
    if code or not conv.converged:
        result.ok = False
        result.error = "; ".join(conv.problems) or f"rsync exit {code}"


def run_one(tool: ToolSpec, node: Node, workload: Workload, root: Path) -> RunResult:
    """Prepare, start the daemon, run the workload, wait for convergence, read the counters."""
    result = RunResult(tool=tool.name, node=node.kind, workload=workload.name)
    src, dst, work = root / "src", root / "dst", root / "work"
    work.mkdir(parents=True)
    timeout = workload.sizes.timeout_s + tool.delay
    try:
        workload.prepare(src)
        dst.mkdir()
        if workload.presync:
            presync(src, dst)
        spawns = SpawnCounter(work)
        with Daemon(tool, node, src, dst, work, spawns) as daemon:
            try:
                if isinstance(workload, Startup):
                    _measure_startup(daemon, workload, node, timeout, result)
                else:
                    _measure_change(daemon, workload, node, timeout, result)
            finally:
                if not daemon.alive() and not result.error:
                    result.ok = False
                    code = daemon.proc.returncode if daemon.proc else "?"
                    result.error = f"daemon exited with {code}"
                if not result.ok and daemon.log is not None:
                    result.log_tail = daemon.log.tail()
    except Exception as exc:  # a broken run is a row with an error, not a crashed benchmark
        result.ok = False
        result.error = result.error or f"{type(exc).__name__}: {exc}"
    finally:
        remove_tree(root)
    return result


def _measure_startup(daemon: Daemon, workload: Startup, node: Node, timeout: float,
                     result: RunResult) -> None:
    t0 = daemon.started_at
    deadline = t0 + timeout
    bytes0 = _bytes(node)
    watching = daemon.wait_watching(deadline)
    # Poll the destination while the initial sync runs; readiness was timestamped on arrival.
    conv = wait_converged(daemon.src, daemon.dst, workload.expected(), deadline,
                          alive=daemon.alive)
    ready = daemon.wait_ready(max(deadline, time.monotonic() + 5))
    assert daemon.proc is not None
    status = proc_status(daemon.proc.pid)
    if watching is not None:
        result.extras["watches_s"] = watching - t0
        assert daemon.log is not None
        # inosync says how long the walk + add_watch took: "... in 123 ms".
        own = re.search(r"\bin (\d+) ms", daemon.log.line_at(watching))
        if own:
            result.extras["watches_own_s"] = int(own.group(1)) / 1000
    if ready is not None:
        result.extras["ready_s"] = ready - t0
    for key in ("VmRSS", "VmHWM"):
        if key in status:
            result.extras[f"{key}_MiB"] = status[key] / 1024
    _finish(daemon, node, result, conv.converged, conv.problems, t0, t0, conv.at, conv.verify_s,
            counts0={"rsync": 0, "ssh": 0}, cpu0=0.0, bytes0=bytes0)
    if ready is None and result.ok:
        result.ok, result.error = False, "converged but never signalled readiness"


def _measure_change(daemon: Daemon, workload: Workload, node: Node, timeout: float,
                    result: RunResult) -> None:
    ready = daemon.wait_ready(time.monotonic() + timeout)
    if ready is None:
        result.error = "daemon never became ready"
        return
    initial = wait_converged(daemon.src, daemon.dst, Probe(), time.monotonic() + timeout)
    if not initial.converged:
        result.error = "not in sync before the workload: " + "; ".join(initial.problems)
        return
    time.sleep(0.2)  # let the initial sync's trailing work finish before the baseline
    assert daemon.proc is not None
    counts0, cpu0, bytes0 = daemon.spawns.counts(), daemon.cpu.seconds(), _bytes(node)
    switches0 = proc_status(daemon.proc.pid).get("ctxt_switches", 0)
    outcome = workload.run(daemon.src, daemon.dst, timeout)
    result.extras.update(outcome.extras)
    if isinstance(workload, Idle):
        elapsed = outcome.ended - outcome.started
        switches = proc_status(daemon.proc.pid).get("ctxt_switches", 0) - switches0
        result.extras["wakeups_per_s"] = switches / elapsed
        result.extras["idle_s"] = elapsed
        if daemon.notify is not None:
            result.extras["watchdog_pings"] = daemon.notify.count(
                "WATCHDOG", outcome.started, outcome.ended)
    conv = wait_converged(daemon.src, daemon.dst, outcome.probe, outcome.ended + timeout,
                          alive=daemon.alive)
    if daemon.notify is not None:
        t = daemon.wait_in_sync_status(outcome.ended, min(time.monotonic() + 2, conv.at + 2))
        if t is not None:
            result.extras["status_in_sync_s"] = t - outcome.ended
    problems = ([outcome.error] if outcome.error else []) + conv.problems
    _finish(daemon, node, result, conv.converged and not outcome.error, problems,
            outcome.started, outcome.ended, conv.at, conv.verify_s, counts0, cpu0, bytes0,
            timed=not isinstance(workload, Idle))


def _finish(daemon: Daemon, node: Node, result: RunResult, converged: bool, problems: list[str],
            started: float, ended: float, seen: float, verify_s: float,
            counts0: dict[str, int], cpu0: float, bytes0: int | None,
            timed: bool = True) -> None:
    time.sleep(SETTLE_S)
    result.ok = converged
    result.error = "; ".join(problems)
    if converged and timed:
        result.converge_s = max(0.0, seen - ended)
        result.total_s = seen - started
    result.verify_s = verify_s
    result.cpu_s = daemon.cpu.seconds() - cpu0
    counts = daemon.spawns.counts()
    result.rsync_procs = counts["rsync"] - counts0["rsync"]
    result.ssh_procs = counts["ssh"] - counts0["ssh"]
    if bytes0 is not None:
        result.ssh_bytes = (_bytes(node) or 0) - bytes0
