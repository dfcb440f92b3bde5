#!/usr/bin/env python3
"""Benchmark inosync against lsyncd and a plain rsync on typical workloads (bench/README.md).

    bash bench/setup
    python3 bench/run.py [--quick] [--json OUT] [--only WORKLOAD[,..]] \
        [--tools inosync,lsyncd15,lsyncd1] [--nodes local,ssh]

Exit status: 0 when every run converged, 1 when any run failed or timed out (so CI can call
`python3 bench/run.py --quick --tools inosync --nodes local,ssh`), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib import scale as scale_mod  # noqa: E402
from lib import tools as tools_mod  # noqa: E402
from lib.harness import RunResult, run_floor, run_one  # noqa: E402
from lib.meters import CpuMeter  # noqa: E402
from lib.report import machine, markdown, write_json  # noqa: E402
from lib.sshd import LoopbackSshd  # noqa: E402
from lib.tools import TOOLS, Node  # noqa: E402
from lib.workloads import FULL, KERNEL_SOURCE, QUICK, WORKLOADS, Sizes  # noqa: E402


def _csv(value: str, allowed: list[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(bad) or '(none)'}; choose from {', '.join(allowed)}")
    return items


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true",
                   help="small sizes for a smoke run (skips lsyncd15 unless --tools names it)")
    p.add_argument("--json", type=Path, help="write results as JSON to this file")
    p.add_argument("--only", type=lambda v: _csv(v, list(WORKLOADS), "workload"),
                   help=f"comma-separated workloads: {','.join(WORKLOADS)}")
    p.add_argument("--tools", type=lambda v: _csv(v, list(TOOLS), "tool"),
                   help="comma-separated tools (default: all; quick: inosync,lsyncd1)")
    p.add_argument("--nodes", type=lambda v: _csv(v, ["local", "ssh"], "node"),
                   default=["local", "ssh"], help="local,ssh (default both)")
    p.add_argument("--size", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one size, e.g. --size startup_files=100000 (see workloads.Sizes)")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run each tool N times and report the median run (by 'after end'); "
                        "single runs vary by ~20%% here when other work shares the cores")
    p.add_argument("--floor-repeat", type=int, default=3, metavar="N",
                   help="rsyncs per floor measurement, median reported (default 3)")
    p.add_argument("--inosync-path", type=Path, default=None,
                   help="directory holding the inosync package to run (default: this checkout;"
                        " e.g. a `git worktree` of a commit, so edits in progress don't leak in)")
    p.add_argument("--no-floor", action="store_true", help="skip the plain-rsync floor runs")
    p.add_argument("--scale", action="store_true",
                   help="the scale benchmark instead: start-up on big trees, fan-out to many "
                        "nodes (bench/scale.py; not part of --quick)")
    p.add_argument("--scale-dirs", type=scale_mod.parse_int_list,
                   default=[100_000, 500_000, 1_000_000], metavar="N,N",
                   help="tree sizes for --scale start-up, in directories (one file each); "
                        "'' for none")
    p.add_argument("--scale-nodes", type=scale_mod.parse_int_list, default=[1, 10, 50],
                   metavar="K,K", help="node counts for --scale fan-out; '' for none")
    p.add_argument("--scale-writes", type=int, default=15, metavar="N",
                   help="lone writes per fan-out run (default 15)")
    p.add_argument("--inosync-key", action="append", default=[], metavar="KEY=VALUE",
                   help='an extra line for inosync\'s config in every workload, TOML on the '
                        'right, e.g. keep_deleted=\'"7d"\'')
    p.add_argument("--inosync-nice", type=int, default=None, metavar="N",
                   help="run inosync (and so its rsync and ssh) under `nice -n N`, as Nice=N "
                        "in its unit would")
    p.add_argument("--inosync-ionice", default=None, metavar="CLASS[:LEVEL]",
                   help="run inosync under `ionice -c CLASS [-n LEVEL]`, e.g. 2:7 "
                        "(IOSchedulingClass=best-effort, IOSchedulingPriority=7) or 3 (idle)")
    p.add_argument("--scale-key", action="append", default=[], metavar="KEY=VALUE",
                   help="an extra inosync config line for fan-out runs, e.g. max_parallel=4")
    p.add_argument("--scale-from", type=Path, action="append", default=[], metavar="JSON",
                   help="redraw the --scale table and plot from saved --json files (merged, "
                        "later files win for the same row unless they failed) instead of "
                        "running")
    p.add_argument("--plot", type=Path, default=Path(__file__).resolve().parent / "scale.png",
                   help="where --scale writes its PNG (default bench/scale.png)")
    p.add_argument("--tmp", type=Path, default=None,
                   help="where the trees go (default: /dev/shm when it is a tmpfs with room, "
                        "so the disk's write-back does not drown the tools' differences; "
                        "else $TMPDIR; --scale: a tmpfs of its own without an inode limit)")
    return p.parse_args(argv)


def override_sizes(sizes: Sizes, items: list[str]) -> Sizes:
    """Apply FIELD=VALUE overrides, typed like the field they replace."""
    changes: dict[str, float | int] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in sizes.__dataclass_fields__:
            raise ValueError(f"{item!r}: expected FIELD=VALUE with FIELD one of "
                             f"{', '.join(sizes.__dataclass_fields__)}")
        current = getattr(sizes, key)
        changes[key] = type(current)(float(value)) if isinstance(current, int) else float(value)
    return dataclasses.replace(sizes, **changes)  # type: ignore[arg-type]


def priority_argv(nice: int | None, ionice: str | None) -> list[str]:
    """The `nice` / `ionice` prefix for inosync's command line (empty: default priority)."""
    argv: list[str] = []
    if nice is not None:
        argv += ["nice", "-n", str(nice)]
    if ionice:
        klass, _, level = ionice.partition(":")
        argv += ["ionice", "-c", klass, *(["-n", level] if level else [])]
    return argv


def check_prerequisites(tools: list[str]) -> str | None:
    for binary in ("rsync", "ssh", "ssh-keygen"):
        if shutil.which(binary) is None:
            return f"{binary} not found; run: bash bench/setup"
    if any(t.startswith("lsyncd") for t in tools) and shutil.which("lsyncd") is None:
        return "lsyncd not found; run: bash bench/setup"
    if not (shutil.which("sshd") or os.path.exists("/usr/sbin/sshd")):
        return "sshd not found; run: bash bench/setup"
    return None


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    try:
        sizes = override_sizes(sizes, args.size)
    except ValueError as exc:
        print(f"--size: {exc}", file=sys.stderr)
        return 2
    tools = args.tools or (["inosync", "lsyncd1"] if args.quick else list(TOOLS))
    workloads = args.only or default_workloads(args.quick)
    tools_mod.INOSYNC_KEYS = list(args.inosync_key)
    tools_mod.INOSYNC_PRIORITY = priority_argv(args.inosync_nice, args.inosync_ionice)
    if problem := tools_mod.use_inosync_path(args.inosync_path):
        print(problem, file=sys.stderr)
        return 2
    if args.scale:
        return main_scale(args)
    problem = check_prerequisites(tools)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="inosync-bench-", dir=args.tmp or default_tmp()))
    results: list[RunResult] = []
    started = time.time()
    try:
        with contextlib.ExitStack() as stack:
            nodes: list[Node] = []
            for kind in args.nodes:
                if kind == "local":
                    nodes.append(Node("local"))
                else:
                    endpoint = stack.enter_context(LoopbackSshd(base / "sshd"))
                    nodes.append(Node("ssh", endpoint))
            serial = 0
            for name in workloads:
                for node in nodes:
                    runs = [] if args.no_floor or not WORKLOADS[name].has_floor else ["floor"]
                    for tool_name in runs + tools:
                        tries: list[RunResult] = []
                        for attempt in range(1 if tool_name == "floor" else args.repeat):
                            serial += 1
                            root = base / f"{serial:03d}-{name}-{node.kind}-{tool_name}"
                            workload = WORKLOADS[name](sizes)
                            print(f"# {name} / {node.kind} / {tool_name} #{attempt + 1} ...",
                                  file=sys.stderr, flush=True)
                            if tool_name == "floor":
                                result = run_floor(workload, node, root, args.floor_repeat)
                            else:
                                result = run_one(TOOLS[tool_name], node, workload, root)
                            _print_progress(result)
                            tries.append(result)
                        results.append(median_run(tries))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    meta = {
        "quick": args.quick,
        "sizes": sizes.__dict__,
        "tools": tools,
        "nodes": args.nodes,
        "workloads": workloads,
        "machine": machine(),
        "cpu_method": _cpu_method(),
        "inosync": inosync_version(tools_mod.INOSYNC_PATH),
        "inosync_priority": " ".join(tools_mod.INOSYNC_PRIORITY) or "default",
        "trees_on": f"{base.parent} ({fs_type(base.parent)})",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
    }
    table = markdown(results)
    print(table)
    if args.json:
        write_json(args.json, meta, results)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"FAILED {r.workload}/{r.node}/{r.tool}: {r.error}", file=sys.stderr)
        for line in r.log_tail:
            print(f"    | {line}", file=sys.stderr)
    return 1 if failed else 0


def default_workloads(quick: bool) -> list[str]:
    """Every workload; the Linux source's extraction (1.36 GB) only in a full run, and only
    where its tarball is installed."""
    names = list(WORKLOADS)
    if quick or not KERNEL_SOURCE.is_file():
        names.remove("kernel")
        if not quick:
            print(f"# kernel: skipped, {KERNEL_SOURCE} is missing (bash bench/setup kernel)",
                  file=sys.stderr)
    return names


def main_scale(args: argparse.Namespace) -> int:
    """run.py --scale: the start-up and fan-out rows, the markdown table and the plot."""
    tools = [t for t in (args.tools or ["inosync", "lsyncd1"]) if t != "lsyncd15"]
    problem = check_prerequisites(tools)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib not found; run: bash bench/setup scale", file=sys.stderr)
        return 2
    if args.scale_from:
        rows: dict[tuple[str, str, int], scale_mod.ScaleResult] = {}
        for path in args.scale_from:
            for doc in json.loads(path.read_text())["results"]:
                row = scale_mod.ScaleResult.from_json(doc)
                key = (row.kind, row.tool, row.size)
                if row.ok or key not in rows:  # a failed row never hides a good one
                    rows[key] = row
        print(scale_mod.markdown(list(rows.values())))
        scale_mod.plot(list(rows.values()), args.plot)
        return 0
    base = Path(tempfile.mkdtemp(prefix="inosync-scale-", dir=args.tmp))
    mounted = args.tmp is None and scale_mod.mount_tmpfs(base)
    if args.tmp is None and not mounted:
        print(f"could not mount a tmpfs on {base} (not root?): the trees go to the disk",
              file=sys.stderr)
    started = time.time()
    trees_on = f"{base} ({fs_type(base)})"
    try:
        results = scale_mod.run(
            base, args.scale_dirs, args.scale_nodes, tools, not args.no_floor,
            args.scale_writes, (2_000, 100), args.scale_key,
            lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if mounted:
            subprocess.run(["umount", str(base)], check=False)
        shutil.rmtree(base, ignore_errors=True)
    table = scale_mod.markdown(results)
    print(table)
    scale_mod.plot(results, args.plot)
    print(f"plot: {args.plot}", file=sys.stderr)
    if args.json:
        meta = {"scale": True, "dirs": args.scale_dirs, "nodes": args.scale_nodes,
                "tools": tools, "scale_keys": args.scale_key, "machine": machine(),
                "inosync": inosync_version(tools_mod.INOSYNC_PATH),
                "trees_on": trees_on,
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
                "duration_s": round(time.time() - started, 1)}
        args.json.write_text(json.dumps({"meta": meta, "results": [r.to_json() for r in results]},
                                        indent=2) + "\n")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"FAILED {r.kind}/{r.tool}/{r.size}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def fs_type(path: Path) -> str:
    """The type of the filesystem holding path (longest matching mount point)."""
    best, kind = "", "?"
    resolved = str(path.resolve())
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            mnt = fields[1]
            inside = resolved == mnt or resolved.startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) > len(best):
                best, kind = mnt, fields[2]
    return kind


def default_tmp() -> str | None:
    shm = Path("/dev/shm")
    if shm.is_dir() and fs_type(shm) == "tmpfs" and shutil.disk_usage(shm).free > 4 * 2**30:
        return str(shm)
    return None


def inosync_version(path: Path) -> str:
    """The commit the measured inosync came from, marked dirty when its files differ."""
    def git(*argv: str) -> str:
        out = subprocess.run(["git", "-C", str(path), *argv], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return str(path)
    dirty = git("status", "--porcelain", "--", "inosync")
    return f"{commit}{' (with uncommitted changes in inosync/)' if dirty else ''} at {path}"


def median_run(tries: list[RunResult]) -> RunResult:
    """The median try by time to converge (by the writer's time in the writer workload; a
    failed try counts as slowest); spread in extras."""
    if len(tries) == 1:
        return tries[0]
    failed = [r for r in tries if not r.ok or r.converge_s is None]
    if failed:
        return failed[0]  # one failure is worth reporting over any median
    key = "writer_s" if "writer_s" in tries[0].extras else ""

    def measure(r: RunResult) -> float:
        return r.extras[key] if key else r.converge_s or 0.0

    ordered = sorted(tries, key=measure)
    chosen = ordered[len(ordered) // 2]
    times = [measure(r) for r in ordered]
    chosen.extras.update({"tries": float(len(tries)), "tries_min_s": times[0],
                          "tries_max_s": times[-1]})
    return chosen


def _cpu_method() -> str:
    meter = CpuMeter()
    method = meter.method
    meter.close()
    return method


def _print_progress(r: RunResult) -> None:
    state = "ok" if r.ok else f"FAILED ({r.error[:200]})"
    conv = "-" if r.converge_s is None else f"{r.converge_s:.3f}s"
    print(f"  -> {state}; after end {conv}; cpu {r.cpu_s}; rsync {r.rsync_procs}; "
          f"ssh {r.ssh_procs}; bytes {r.ssh_bytes}; {r.extras}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
