#!/usr/bin/env python3
"""How long sorting a verification's dry run into drift takes while the tree changes.

    python3 bench/drift.py [--changed 100000] [--lines 100000] [--repeat 3] \
        [--sample N] [--inosync-path DIR]

A verification compares the whole tree with a dry run; every change seen while it ran is
left out of the drift (`drift.find_drift`), and that runs in the daemon's one loop, so it
must stay well inside the watchdog's interval however busy the tree was. The workload:
`--changed` files written in 1,000 directories while the dry run ran (no directory among
them, so nothing collapses), and `--lines` itemized lines: half are those files (left
out), half real drift next to them whose names only begin like theirs (`f7.tmp` beside
`f7`: a prefix that is not a parent, so no shortcut ends the search early). Timed: parsing
the lines (`rsync.parse_itemized`) and `find_drift`, the median of `--repeat` runs.
`--sample N` times `find_drift` on every k-th line only (N of them) and scales the time by
lines / N: each line costs the same whichever lines are around it, so this estimates code
that is too slow to run in full. `--inosync-path DIR` measures the `inosync` package in DIR
(say `git archive COMMIT inosync | tar -x -C DIR`) instead of this checkout's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIRS = 1000


def workload(changed: int, lines: int) -> tuple[list[str], bytes]:
    """The changed paths and the dry run's stdout, the same every time."""
    paths = [f"tree/d{i % DIRS}/f{i}" for i in range(changed)]
    out = []
    for i in range(lines):
        name = paths[(i // 2) % changed] if changed else f"tree/d{i % DIRS}/f{i}"
        if i % 2 == 0:
            out.append(b">f+++++++++ " + name.encode())  # written meanwhile: not drift
        else:
            out.append(b">f.st...... " + name.encode() + b".tmp")  # drift beside it
    return paths, b"\n".join(out) + b"\n"


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--changed", type=int, default=100_000, metavar="N",
                   help="paths changed while the dry run ran (default 100,000)")
    p.add_argument("--lines", type=int, default=100_000, metavar="N",
                   help="itemized lines in the dry run (default 100,000)")
    p.add_argument("--repeat", type=int, default=3, metavar="N", help="median of N runs")
    p.add_argument("--sample", type=int, default=0, metavar="N",
                   help="time find_drift on N of the lines and scale up (for slow code)")
    p.add_argument("--inosync-path", type=Path, default=REPO, metavar="DIR",
                   help="the directory holding the inosync package to measure")
    args = p.parse_args(argv)
    if not (args.inosync_path / "inosync" / "node" / "drift.py").exists():
        print(f"--inosync-path: {args.inosync_path}/inosync/node/drift.py not found",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(args.inosync_path.resolve()))
    from inosync.node.drift import find_drift
    from inosync.rsync.output import parse_itemized

    changed, stdout = workload(args.changed, args.lines)
    items = parse_itemized(stdout)
    assert len(items) == args.lines
    # an odd step takes as many lines of each half, in the order they come
    step = max(1, len(items) // args.sample) | 1 if args.sample else 1
    timed = items[::step]
    expected = sum(1 for i in range(0, len(items), step) if i % 2 == 1)
    found = find_drift(timed, changed)
    if len(found) != expected:
        print(f"find_drift found {len(found)} paths, expected {expected}", file=sys.stderr)
        return 1
    parse = median_seconds(lambda: parse_itemized(stdout), args.repeat)
    drift = median_seconds(lambda: find_drift(timed, changed), args.repeat)
    scale = len(items) / len(timed)
    how = f", estimated from {len(timed):,} lines" if scale > 1 else ""
    print(f"inosync from {args.inosync_path}: {args.changed:,} changed paths, "
          f"{args.lines:,} itemized lines, median of {args.repeat}")
    print(f"  parse_itemized  {parse:9.3f} s")
    print(f"  find_drift      {drift * scale:9.3f} s ({len(items) // 2:,} drift{how})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
