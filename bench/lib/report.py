"""Turn RunResults into the markdown table and the JSON document."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from lib.harness import RunResult

HEADER = ("| workload | node | tool | after end (s) | total (s) | x floor | CPU (s) | rsync | ssh "
          "| ssh bytes | notes |")
RULE = "|" + "---|" * 11


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _int(value: int | None) -> str:
    return "-" if value is None else str(value)


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def _notes(r: RunResult) -> str:
    e = r.extras
    parts: list[str] = []
    if r.tool == "floor" and "runs" in e:
        parts.append(f"median of {e['runs']:.0f} (min {e['min_s']:.2f} s, max {e['max_s']:.2f} s)")
    if "writer_s" in e:
        parts.append(f"writer {e['writer_s']:.2f} s (CPU {e['writer_cpu_s']:.2f} s)")
    if "tries" in e:
        what = "writer" if "writer_s" in e else "after end"
        parts.append(f"median of {e['tries']:.0f} runs ({what} {e['tries_min_s']:.2f}"
                     f"-{e['tries_max_s']:.2f} s)")
    if "p50_s" in e:
        parts.append(f"p50 {e['p50_s'] * 1000:.0f} ms, p95 {e['p95_s'] * 1000:.0f} ms, "
                     f"max {e['max_s'] * 1000:.0f} ms")
    if "watches_s" in e:
        own = f" (own count {e['watches_own_s']:.2f} s)" if "watches_own_s" in e else ""
        parts.append(f"watches in {e['watches_s']:.2f} s{own}")
    if "ready_s" in e:
        parts.append(f"ready {e['ready_s']:.2f} s")
    if "VmHWM_MiB" in e:
        parts.append(f"RSS {e['VmRSS_MiB']:.1f} MiB (peak {e['VmHWM_MiB']:.1f})")
    if "wakeups_per_s" in e:
        pings = (f", {e['watchdog_pings']:.0f} watchdog pings (WatchdogSec=10)"
                 if "watchdog_pings" in e else "")
        parts.append(f"idle {e['idle_s']:.0f} s: {e['wakeups_per_s']:.2f} wake-ups/s{pings}")
    if not r.ok:
        parts.append("**FAILED**: " + (r.error[:160] or "?"))
    return "; ".join(parts)


def floor_index(results: list[RunResult]) -> dict[tuple[str, str], RunResult]:
    return {(r.node, r.workload): r for r in results if r.tool == "floor" and r.ok}


def ratio_to_floor(r: RunResult, floor: RunResult | None) -> float | None:
    """A tool's row over its floor: the lag after the change (the median one, for lone
    writes) over one plain rsync's time, or, for the writer's workloads, the writer's own
    time over the writer alone's."""
    if r.tool == "floor" or floor is None:
        return None
    if "writer_s" in floor.extras:
        return r.extras["writer_s"] / floor.extras["writer_s"] if "writer_s" in r.extras \
            else None
    lag = r.extras.get("p50_s", r.converge_s)
    if floor.total_s and lag is not None:
        return lag / floor.total_s
    return None


def deploy_ratio(r: RunResult, floor: RunResult | None) -> float | None:
    """The writer's workloads: from the writer's first byte to the node in sync, over the
    writer alone and then one plain rsync of what it wrote."""
    if r.tool == "floor" or floor is None or "sync_s" not in floor.extras or r.total_s is None:
        return None
    return r.total_s / (floor.extras["writer_s"] + floor.extras["sync_s"])


def markdown(results: list[RunResult]) -> str:
    """One table, grouped by workload then node; the floor row first in each group."""
    floors = floor_index(results)
    order = {"floor": 0, "inosync": 1, "lsyncd1": 2, "lsyncd15": 3}
    workloads: list[str] = []
    for r in results:
        if r.workload not in workloads:
            workloads.append(r.workload)
    rows = sorted(results, key=lambda r: (workloads.index(r.workload), r.node,
                                          order.get(r.tool, 9)))
    lines = [HEADER, RULE]
    for r in rows:
        floor = floors.get((r.node, r.workload))
        ratio = ratio_to_floor(r, floor)
        notes = _notes(r)
        tool = "floor: 1 rsync" if r.tool == "floor" else r.tool
        if r.tool == "floor" and "writer_s" in r.extras:
            tool = "floor: writer alone"
            if "sync_s" in r.extras:
                notes += f"; then 1 rsync into an empty node {r.extras['sync_s']:.2f} s"
        elif (deploy := deploy_ratio(r, floor)) is not None:
            assert floor is not None and r.total_s is not None
            alone = floor.extras["writer_s"] + floor.extras["sync_s"]
            notes += (f"; first byte to node in sync {r.total_s:.2f} s = "
                      f"{deploy:.2f}x writer + rsync alone ({alone:.2f} s)")
        lines.append(
            f"| {r.workload} | {r.node} | {tool} | {_num(r.converge_s)} | {_num(r.total_s)} "
            f"| {_num(ratio)} | {_num(r.cpu_s)} | {_int(r.rsync_procs)} "
            f"| {_int(r.ssh_procs)} | {_bytes(r.ssh_bytes)} "
            f"| {notes} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_GiB": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "rsync": version(["rsync", "--version"]),
        "lsyncd": version(["lsyncd", "--version"]),
        "ssh": version(["ssh", "-V"]),
    }


def write_json(path: Path, meta: dict[str, Any], results: list[RunResult]) -> None:
    doc = {"meta": meta, "results": [r.to_json() for r in results]}
    path.write_text(json.dumps(doc, indent=2) + "\n")
