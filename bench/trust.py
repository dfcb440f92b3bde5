#!/usr/bin/env python3
"""Benchmark the daemon's trust features (bench/README.md, "Trust features").

    python3 bench/trust.py [--quick] [--json FILE] [--repeat N] [--old | --no-old] \
        [--inosync-path DIR]

What it measures, with the real daemon, rsync and a loopback sshd, trees on tmpfs: a
bounded full sync at start-up (its rsync runs, and a counting dry run's part where one
ran); one verification next to a plain `rsync -an --delete`; a lone change's latency while
verifications run back to back; an ssh node's return after an outage; STATUS messages
during a burst. --old also runs the last inosync before these
features (commit 6615a64, taken with git archive) where it can be compared. Exit status 1
when a measurement failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib import tools  # noqa: E402
from lib.meters import SpawnCounter  # noqa: E402
from lib.report import machine  # noqa: E402
from lib.sshd import LoopbackSshd  # noqa: E402
from lib.trees import make_tree  # noqa: E402
from lib.trust_node import NodeSide  # noqa: E402
from lib.trust_report import markdown  # noqa: E402
from lib.trust_return import node_return, status_rate  # noqa: E402
from lib.trust_runs import Bench, Numbers, counting_pass, latency, verification  # noqa: E402
from run import default_tmp, fs_type, inosync_version  # noqa: E402

OLD_COMMIT = "6615a64"  # the last commit before the counting pass, verification and probes
PARTS = ("count", "verify", "latency", "return", "status")


@dataclass(frozen=True)
class Sizes:
    files: int  # the big tree: full sync at start-up, verification, latency
    dirs: int
    writes: int  # lone writes per latency run
    gap: float  # seconds between them on average
    outages: tuple[float, ...]  # seconds an ssh node is down
    outage_changes: int
    return_files: int  # the tree of the node-return runs
    burst_files: int
    burst_dirs: int
    timeout: float  # for any one wait


FULL = Sizes(100_000, 10_000, 20, 0.5, (10.0, 70.0), 100, 1_000, 20_000, 1_000, 300.0)
QUICK = Sizes(3_000, 300, 5, 0.25, (2.0,), 20, 200, 2_000, 100, 60.0)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    p.add_argument("--json", type=Path, metavar="FILE", help="write every number here")
    p.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run everything N times and report medians")
    p.add_argument("--only", default=",".join(PARTS), metavar="PART[,..]",
                   help=f"run only these parts of {','.join(PARTS)}")
    p.add_argument("--old", action=argparse.BooleanOptionalAction, default=None,
                   help=f"also run commit {OLD_COMMIT} (default: yes, but not with --quick)")
    p.add_argument("--inosync-path", type=Path, default=None, metavar="DIR",
                   help="directory holding the inosync package to measure (default: this "
                        "checkout), e.g. another commit unpacked with git archive")
    p.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                   help="measure nothing: the table of the medians over every round in these "
                        "--json files (runs of the same sizes)")
    return p.parse_args(argv)


def old_checkout(root: Path) -> Path | None:
    """The inosync package as of OLD_COMMIT, unpacked next to the trees."""
    target = root / "old"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(tools.REPO), "archive", OLD_COMMIT, "inosync"],
                             capture_output=True)
    if archive.returncode != 0:
        print(f"no old run: git archive {OLD_COMMIT} failed", file=sys.stderr)
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def one_round(bench: Bench, sizes: Sizes, seed: int, parts: set[str]) -> dict[str, Numbers]:
    steps: list[tuple[str, Callable[[], Numbers]]] = []
    for kind in ("local", "ssh"):
        for empty in (False, True):
            steps.append((f"count/{kind}/{'empty' if empty else 'insync'}",
                          partial(counting_pass, bench, kind, empty)))
    for kind in ("local", "ssh"):
        steps.append((f"verify/{kind}", partial(verification, bench, kind)))
    for kind in ("local", "ssh"):
        for on in (False, True):
            steps.append((f"latency/{kind}/{'verify' if on else 'plain'}",
                          partial(latency, bench, kind, sizes.writes, sizes.gap, on, seed)))
    codes = [("new", tools.INOSYNC_PATH)]
    if bench.old_code is not None:
        codes.append(("old", bench.old_code))
    if bench.side.can_go_down or "return" not in parts:
        for outage in sizes.outages:
            for label, code in codes:
                steps.append((f"return/{outage:g}/{label}", partial(
                    node_return, bench, outage, sizes.outage_changes, sizes.return_files, code)))
    else:
        bench.failures.append("return: no cgroup v2 to take the ssh node down with")
    for label, code in codes:
        steps.append((f"status/{label}", partial(
            status_rate, bench, sizes.burst_files, sizes.burst_dirs, code)))
    out: dict[str, Numbers] = {}
    for name, step in steps:
        if name.split("/")[0] not in parts:
            continue
        t0 = time.monotonic()
        try:
            out[name] = step()
        except Exception as exc:  # one failed measurement is reported, the rest still run
            bench.failures.append(f"{name}: {type(exc).__name__}: {exc}")
        print(f"  {name}: {time.monotonic() - t0:.1f} s {out.get(name, 'FAILED')}",
              file=sys.stderr, flush=True)
    return out


def medians(rounds: list[dict[str, Numbers]]) -> dict[str, Numbers]:
    out: dict[str, Numbers] = {}
    for name in dict.fromkeys(name for r in rounds for name in r):
        keys = dict.fromkeys(k for r in rounds if name in r for k in r[name])
        out[name] = {k: statistics.median(r[name][k] for r in rounds
                                          if name in r and k in r[name]) for k in keys}
    return out


def merge(paths: list[Path]) -> int:
    docs = [json.loads(path.read_text()) for path in paths]
    sizes = {json.dumps(doc["meta"]["sizes"]) for doc in docs}
    if len(sizes) != 1:
        print(f"{', '.join(map(str, paths))}: runs of different sizes", file=sys.stderr)
        return 2
    meta = docs[0]["meta"]["sizes"]
    rounds = [r for doc in docs for r in doc["rounds"]]
    print(markdown(medians(rounds), meta["files"], meta["burst_files"], meta["outage_changes"]))
    print(f"\nmedians of {len(rounds)} rounds; load average before and after each run: "
          + ", ".join(f"{d['meta']['load_before'][0]:.2f}/{d['meta']['load_after'][0]:.2f}"
                      for d in docs))
    return 0


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.merge:
        return merge(args.merge)
    sizes = QUICK if args.quick else FULL
    if problem := tools.use_inosync_path(args.inosync_path):
        print(problem, file=sys.stderr)
        return 2
    with_old = (not args.quick) if args.old is None else args.old
    started, load0 = time.time(), os.getloadavg()
    tmp = default_tmp() or tempfile.gettempdir()
    # The source, the node and an empty node filled once, plus the small trees.
    needed = 3 * (sizes.files + sizes.dirs) + sizes.burst_files + 20_000
    if (free := os.statvfs(tmp).f_favail) < needed:
        print(f"{tmp}: {free:,} free inodes, the trees need {needed:,} - wait until others' "
              "trees there are gone", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="inosync-trust-", dir=tmp))
    rounds: list[dict[str, Numbers]] = []
    failures: list[str] = []
    try:
        src, parts = root / "src", set(args.only.split(","))
        src.mkdir()
        if parts & {"count", "verify", "latency"}:
            make_tree(src, sizes.files, sizes.dirs)
        server = LoopbackSshd(root / "sshd")
        with server as endpoint:
            side = NodeSide(server)
            try:
                bench = Bench(root, src, endpoint, side, SpawnCounter(root), sizes.timeout,
                              old_checkout(root) if with_old else None)
                for i in range(args.repeat):
                    print(f"round {i + 1} of {args.repeat}", file=sys.stderr, flush=True)
                    rounds.append(one_round(bench, sizes, i, parts))
                failures = bench.failures
            finally:
                side.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = medians(rounds)
    meta = {"quick": args.quick, "repeat": args.repeat, "sizes": asdict(sizes),
            "machine": machine(), "inosync": inosync_version(tools.INOSYNC_PATH),
            "old": OLD_COMMIT if with_old else None,
            "trees_on": f"{root.parent} ({fs_type(root.parent)})",
            "load_before": load0, "load_after": os.getloadavg(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1)}
    print(markdown(result, sizes.files, sizes.burst_files, sizes.outage_changes))
    print(f"\n{args.repeat} round(s) in {meta['duration_s']:.0f} s; load average "
          f"{load0[0]:.2f} before, {meta['load_after'][0]:.2f} after")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "median": result, "rounds": rounds,
                                         "failures": failures}, indent=2) + "\n")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
