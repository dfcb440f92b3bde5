"""The trust benchmark's sync-side measurements: the counting pass, one verification, and a
lone change's latency while verifications run (bench/trust.py runs them; README: Trust
features).

Every number comes from the real daemon (`python3 -m inosync`, or `inosync verify`) and real
rsync and sshd. Durations inside the daemon are read off its debug log: each job's command
line is logged as it starts and its result as it ends, and the harness stamps every line with
its arrival time, on the same clock the writer and the poller use.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lib import tools
from lib.harness import presync
from lib.meters import SpawnCounter
from lib.sshd import SshEndpoint
from lib.tools import TOOLS, Daemon, Node
from lib.trees import diff, manifest, remove_tree, small_content, write_file
from lib.trust_node import NodeSide
from lib.workloads import percentile

Numbers = dict[str, float]
COUNT_MARK = "--itemize-changes"  # in the logged command line of a counting pass/verification


class TrustDaemon(Daemon):
    """tools.Daemon with the config keys a measurement needs, run from a given checkout."""

    def __init__(self, node: Node, src: Path, dst: Path, workdir: Path, spawns: SpawnCounter,
                 keys: dict[str, str], code: Path | None = None) -> None:
        super().__init__(TOOLS["inosync"], node, src, dst, workdir, spawns)
        self.keys, self.code = keys, code or tools.INOSYNC_PATH

    def _inosync_argv(self) -> list[str]:
        rnode = "" if self.node.kind == "local" else "root@127.0.0.1:"
        lines = [f'wpath = "{self.src}"', f'rpath = "{self.dst}"', f'rnodes = ["{rnode}"]']
        lines += [f"{key} = {value}" for key, value in self.keys.items()]
        if self.node.endpoint is not None:
            lines.append(f'rsh = "{self.node.endpoint.rsh()}"')
        config = self.workdir / "inosync.toml"
        config.write_text("\n".join(lines) + "\n")
        return [sys.executable, "-m", "inosync", "-c", str(config)]

    def __enter__(self) -> TrustDaemon:
        super().__enter__()
        return self

    def start(self) -> None:
        saved, tools.INOSYNC_PATH = tools.INOSYNC_PATH, self.code
        try:
            super().start()
        finally:
            tools.INOSYNC_PATH = saved

    def lines(self, since: float = 0.0) -> list[tuple[float, str]]:
        assert self.log is not None
        return [(t, line) for t, line in list(self.log.lines) if t >= since]

    def ready(self, timeout: float) -> float:
        ready = self.wait_ready(time.monotonic() + timeout)
        if ready is None:
            tail = " | ".join(self.log.tail(5)) if self.log else ""
            raise RuntimeError(f"the daemon never became ready: {tail}")
        return ready


@dataclass
class Bench:
    """What every measurement shares: the big tree, the ssh node, the counting shims."""

    root: Path
    src: Path
    endpoint: SshEndpoint  # through the byte proxy
    side: NodeSide
    spawns: SpawnCounter
    timeout: float
    old_code: Path | None = None  # the inosync before these features, for comparison
    failures: list[str] = field(default_factory=list)
    _serial: int = 0

    def workdir(self, name: str) -> Path:
        self._serial += 1
        path = self.root / f"{self._serial:03d}-{name}"
        path.mkdir(parents=True)
        return path

    def insync_dst(self) -> Path:
        """The one node directory the runs share, made equal to the source (a second copy
        of a 100,000-file tree per run would eat the tmpfs's inodes, which others share)."""
        dst = self.root / "dst"
        presync(self.src, dst)
        return dst

    def node(self, kind: str) -> Node:
        return Node(kind, self.endpoint if kind == "ssh" else None)

    def bytes(self) -> int:
        return self.endpoint.bytes_total()


def _after(lines: list[tuple[float, str]], since: float, *needles: str,
           without: str = "") -> float:
    for t, line in lines:
        if t >= since and all(n in line for n in needles) and not (without and without in line):
            return t
    raise RuntimeError(f"no log line with {needles}: " + " | ".join(s for _, s in lines[-5:]))


def counting_pass(bench: Bench, kind: str, empty: bool) -> Numbers:
    """A full sync at start-up with the default bound: how many whole-tree rsyncs it took,
    how long from the first one's command line to `full sync done`, and the counting dry
    run's part of that when one ran (before the full sync counted its deletions itself;
    a restart of a node in sync is then one run)."""
    work = bench.workdir(f"count-{kind}-{'empty' if empty else 'insync'}")
    dst = work / "dst" if empty else bench.insync_dst()
    dst.mkdir(exist_ok=True)
    keys = {"log_level": '"debug"', "verify_interval": "0"}
    try:
        with TrustDaemon(bench.node(kind), bench.src, dst, work, bench.spawns, keys) as daemon:
            ready = daemon.ready(bench.timeout) - daemon.started_at
            assert daemon.log is not None  # READY=1 can overtake the log line before it
            daemon.log.first(lambda s: "full sync done" in s, time.monotonic() + bench.timeout)
            lines = daemon.lines()
        if empty and (problems := diff(manifest(bench.src), manifest(dst))):
            raise RuntimeError("the node differs after the full sync: " + "; ".join(problems))
    finally:
        if empty:
            remove_tree(dst)
    if failed := [line for _, line in lines if "retrying with backoff" in line]:
        raise RuntimeError(f"a sync failed: {failed[0]}")
    whole = f" -- {bench.src}/ "
    runs = [(t, line) for t, line in lines
            if ": rsync " in line and whole in line and "--files-from" not in line]
    if not runs:
        raise RuntimeError("no full sync in the log: " + " | ".join(s for _, s in lines[-5:]))
    first = runs[0][0]
    done = _after(lines, first, "full sync done")
    out = {"full_s": done - first, "ready_s": ready, "runs": float(len(runs))}
    counted = [i for i, (_, line) in enumerate(runs) if COUNT_MARK in line]
    if counted and counted[0] + 1 < len(runs):
        start, end = runs[counted[0]][0], runs[counted[0] + 1][0]
        out.update({"count_s": end - start, "share": (end - start) / (done - first)})
    return out


def _waited(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of the process and its children (wait4), exit code."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    assert proc.stderr is not None
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def verification(bench: Bench, kind: str) -> Numbers:
    """`inosync verify` of an in-sync node next to a plain `rsync -an --delete`."""
    work = bench.workdir(f"verify-{kind}")
    dst = bench.insync_dst()
    node = bench.node(kind)
    lines = [f'wpath = "{bench.src}"', f'rpath = "{dst}"',
             f'rnodes = ["{"" if kind == "local" else "root@127.0.0.1:"}"]']
    if node.endpoint is not None:
        lines.append(f'rsh = "{node.endpoint.rsh()}"')
    config = work / "verify.toml"
    config.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, PYTHONPATH=str(tools.INOSYNC_PATH))
    plain = ["rsync", "-an", "--delete"] + (["-e", node.endpoint.rsh()] if node.endpoint else [])
    out: Numbers = {}
    for name, argv in (("verify", [sys.executable, "-m", "inosync", "verify", "-c",
                                   str(config)]),
                       ("plain", [*plain, f"{bench.src}/", node.target(dst)])):
        bytes0, side0 = bench.bytes(), bench.side.seconds()
        wall, cpu, code = _waited(argv, env)
        if code != 0:
            raise RuntimeError(f"{name} exited {code} on an in-sync {kind} node")
        out[f"{name}_s"], out[f"{name}_cpu_s"] = wall, cpu
        if kind == "ssh":
            out[f"{name}_bytes"] = float(bench.bytes() - bytes0)
            side1 = bench.side.seconds()
            if side0 is not None and side1 is not None:
                out[f"{name}_node_cpu_s"] = side1 - side0
    return out


def _verifying(lines: list[tuple[float, str]], since: float) -> list[tuple[float, float]]:
    """(start, end) of each periodic verification, from the log."""
    spans, start = [], None
    for t, line in lines:
        if t < since:
            continue
        if ": rsync " in line and COUNT_MARK in line:
            start = t
        elif start is not None and ("verified:" in line or "verification found drift" in line):
            spans.append((start, t))
            start = None
    return spans


def latency(bench: Bench, kind: str, writes: int, gap: float, verify: bool,
            seed: int) -> Numbers:
    """Lone small writes, `gap` seconds apart on average, at random moments; with verify,
    verifications run back to back (verify_interval = 1, the least allowed) and each write
    is noted as landing during one or not."""
    work = bench.workdir(f"latency-{kind}-{'verify' if verify else 'plain'}")
    dst, lat = bench.insync_dst(), bench.src / work.name
    lat.mkdir()
    keys = {"log_level": '"debug"', "verify_interval": "1" if verify else "0"}
    rng = random.Random(seed)
    samples: list[tuple[float, float]] = []  # (time written, seconds until visible)
    with TrustDaemon(bench.node(kind), bench.src, dst, work, bench.spawns, keys) as daemon:
        ready = daemon.ready(bench.timeout)
        assert daemon.log is not None
        if verify and daemon.log.first(lambda s: "verified:" in s,
                                       time.monotonic() + bench.timeout) is None:
            raise RuntimeError("no verification finished")
        for i in range(writes):
            time.sleep(rng.uniform(gap / 2, gap * 1.5))
            rel = f"{work.name}/w{i:03d}.txt"
            data = small_content(rel, f"write {i}")
            write_file(bench.src / rel, data)
            written = time.monotonic()
            samples.append((written, _visible(dst / rel, data, written + bench.timeout)
                            - written))
        time.sleep(0.1)
        lines = daemon.lines(ready)
    spans = _verifying(lines, ready)
    during = [s for t, s in samples if any(a <= t < b for a, b in spans)]
    outside = [s for t, s in samples if not any(a <= t < b for a, b in spans)]
    secs = [s for _, s in samples]
    out = {"p50_s": percentile(secs, 50), "p95_s": percentile(secs, 95), "max_s": max(secs),
           "writes": float(len(secs))}
    if verify:
        window = lines[-1][0] - spans[0][0] if spans else 0.0
        out.update({"during": float(len(during)), "verifications": float(len(spans)),
                    "verify_median_s": percentile([b - a for a, b in spans], 50),
                    "busy_share": sum(b - a for a, b in spans) / window if window else 0.0,
                    "drift_reports": float(sum("found drift" in line for _, line in lines))})
        for name, group in (("during", during), ("outside", outside)):
            if group:
                out.update({f"{name}_p50_s": percentile(group, 50),
                            f"{name}_p95_s": percentile(group, 95)})
    return out


def _visible(path: Path, data: bytes, deadline: float) -> float:
    """When `path` first holds exactly `data` (polled every 2 ms)."""
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"{path.name} never became visible on the node")
