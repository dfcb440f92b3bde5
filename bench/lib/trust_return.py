"""The trust benchmark's node-side measurements: an ssh node's return after an outage, and
the STATUS messages a burst causes (bench/trust.py runs them; README: Trust features).

Both can run against an older checkout too (Bench.old_code), to compare with how inosync
behaved before nodes were probed and STATUS was rate-limited.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from lib import tools
from lib.harness import presync
from lib.tools import Node
from lib.trees import Probe, make_tree, remove_tree, small_content, wait_converged, write_file
from lib.trust_node import SynCounter
from lib.trust_runs import Bench, Numbers, TrustDaemon


@contextlib.contextmanager
def _gone(*trees: Path) -> Iterator[None]:
    """Remove the trees afterwards (the tmpfs's inodes are shared)."""
    try:
        yield
    finally:
        for tree in trees:
            remove_tree(tree)


BENCH = str(Path(__file__).resolve().parents[1])
BURST = (f"import sys; from pathlib import Path; sys.path.insert(0, {BENCH!r}); "
         "from lib.trees import make_tree; "
         "make_tree(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))")


def node_return(bench: Bench, outage: float, changes: int, files: int,
                code: Path = tools.REPO) -> Numbers:
    """An ssh node down for `outage` seconds with `changes` writes meanwhile: connects to its
    port while down, and seconds from the sshd's return until the node equals the source.

    The daemon talks to the sshd directly (not through the byte proxy, which would answer
    for a node that is down)."""
    work = bench.workdir(f"return-{outage:g}s-{'old' if code == bench.old_code else 'new'}")
    src, dst = work / "src", work / "dst"
    make_tree(src, files, max(1, files // 10), prefix="b")
    presync(src, dst)
    node = Node("ssh", dataclasses.replace(bench.endpoint, port=bench.side.port))
    with _gone(src, dst), TrustDaemon(node, src, dst, work, bench.spawns, {}, code) as daemon:
        ready = daemon.ready(bench.timeout)
        counter = SynCounter(bench.side.port)
        down_at = time.monotonic()
        bench.side.down()
        written: dict[str, int] = {}
        for i in range(changes):
            time.sleep(max(0.0, down_at + outage * 0.9 * i / changes - time.monotonic()))
            rel = f"outage/f{i:04d}.txt"
            (src / "outage").mkdir(exist_ok=True)
            data = small_content(rel, "outage")
            write_file(src / rel, data)
            written[rel] = len(data)
        time.sleep(max(0.0, down_at + outage - time.monotonic()))
        connects = counter.stop()
        up_at = bench.side.up()
        conv = wait_converged(src, dst, Probe(present=written), up_at + bench.timeout,
                              alive=daemon.alive)
        if not conv.converged:
            raise RuntimeError("the node never caught up: " + "; ".join(conv.problems))
        lines = daemon.lines(ready)
    return {"converge_s": conv.at - up_at, "connects": float(connects),
            "connects_per_s": connects / outage,
            "answers_again": float(sum("answers again" in line for _, line in lines))}


def status_rate(bench: Bench, files: int, dirs: int, code: Path = tools.REPO) -> Numbers:
    """STATUS datagrams on NOTIFY_SOCKET from the start of a burst to 1 s after the node
    has it all: the most in any 1 s window, and the total."""
    work = bench.workdir(f"status-{'old' if code == bench.old_code else 'new'}")
    src, dst = work / "src", work / "dst"
    make_tree(src / "base", 1_000, 100, prefix="b")
    presync(src, dst)
    with _gone(src, dst), \
            TrustDaemon(Node("local"), src, dst, work, bench.spawns, {}, code) as daemon:
        daemon.ready(bench.timeout)
        time.sleep(0.5)  # the start-up's last STATUS is not the burst's
        started = time.monotonic()
        # Written by a child process: in this one it would hold the GIL and delay the
        # thread that timestamps each STATUS as it arrives.
        subprocess.run([sys.executable, "-c", BURST, str(src / "burst"), str(files),
                        str(dirs)], check=True)
        ended = time.monotonic()
        present = {os.path.relpath(os.path.join(top, name), src):
                   os.lstat(os.path.join(top, name)).st_size
                   for top, _, names in os.walk(src / "burst") for name in names}
        conv = wait_converged(src, dst, Probe(present=present), ended + bench.timeout,
                              alive=daemon.alive)
        if not conv.converged:
            raise RuntimeError("the burst never arrived: " + "; ".join(conv.problems))
        until = conv.at + 1.0
        time.sleep(max(0.0, until - time.monotonic()) + 0.1)
        assert daemon.notify is not None
        times = sorted(t for t, key, _ in list(daemon.notify.messages)
                       if key == "STATUS" and started <= t <= until)
    most, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - 1.0:
            first += 1
        most = max(most, last - first + 1)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {"max_per_s": float(most), "total": float(len(times)),
            "min_gap_s": min(gaps, default=0.0),
            "burst_s": ended - started, "converge_s": conv.at - started,
            "window_s": until - started}
