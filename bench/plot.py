#!/usr/bin/env python3
"""Each row of a bench/run.py run against its floor, inosync beside lsyncd, as one PNG.

    python3 bench/plot.py RESULTS.json [MORE.json ...] [--out bench/results/floor.png]

A bar is a tool's time over the floor's for one workload and node (the floor is one plain
`rsync -a --delete` of the same change; for the writer's workloads, the writer alone, and
from its first byte to the node in sync, the writer alone and then one plain rsync), on a
log scale: left of the line at 1 is quicker than the floor. Later files win for the same
row. Needs matplotlib (`bash bench/setup scale`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib.harness import RunResult  # noqa: E402
from lib.report import deploy_ratio, floor_index, ratio_to_floor  # noqa: E402

TOOLS = (("inosync", "inosync", "C0"), ("lsyncd1", "lsyncd, delay = 1", "C3"),
         ("lsyncd15", "lsyncd, delay = 15 (its default)", "C1"))


def load(paths: list[Path]) -> list[RunResult]:
    rows: dict[tuple[str, str, str], RunResult] = {}
    for path in paths:
        for raw in json.loads(path.read_text())["results"]:
            r = RunResult(**raw)
            key = (r.tool, r.node, r.workload)
            if r.ok or key not in rows:
                rows[key] = r
    return list(rows.values())


def ratios(results: list[RunResult]) -> list[tuple[str, dict[str, float]]]:
    """(workload / node, {tool: ratio}) in the run's order, for rows that have a floor."""
    floors = floor_index(results)
    groups: dict[str, dict[str, float]] = {}
    for r in results:
        if not r.ok:
            continue
        floor = floors.get((r.node, r.workload))
        ratio = ratio_to_floor(r, floor)
        if ratio is not None:
            what = "writer's own time" if "writer_s" in r.extras else ""
            groups.setdefault(f"{r.workload} / {r.node} {what}".strip(), {})[r.tool] = ratio
        if (deploy := deploy_ratio(r, floor)) is not None:
            groups.setdefault(f"{r.workload} / {r.node} to in sync", {})[r.tool] = deploy
    return list(groups.items())


def draw(rows: list[tuple[str, dict[str, float]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = 0.8 / len(TOOLS)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2), dpi=100)
    for index, (tool, label, color) in enumerate(TOOLS):
        ys = [row - 0.4 + height * (index + 0.5) for row in range(len(rows))]
        values = [group.get(tool) for _, group in rows]
        ax.barh([y for y, v in zip(ys, values) if v], [v for v in values if v], height,
                color=color, label=label)
    ax.axvline(1.0, color="k", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time over the floor's (one plain rsync -a --delete; writer rows: the "
                  "writer alone), log scale", fontsize=8)
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(TOOLS),
              frameon=False)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "floor.png")
    args = parser.parse_args()
    rows = ratios(load(args.results))
    if not rows:
        print("bench/plot.py: no row with a floor in " + ", ".join(map(str, args.results)),
              file=sys.stderr)
        return 1
    draw(rows, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
