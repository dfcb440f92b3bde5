"""The benchmark workloads: what each prepares, changes, and expects on the destination.

Each workload has three parts: `prepare` builds the tree that is already there (and mirrored)
before the daemon starts, `run` makes the change the way a user would (paced where pacing is
the point), and `change_at_once` makes the same change as fast as possible for the floor run.
`run` returns a Probe (what the destination must show) so the harness can time convergence.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lib.trees import Probe, make_sized_tree, make_tree, small_content, varied_sizes, write_file


@dataclass(frozen=True)
class Sizes:
    """How big each workload is; FULL is the issue's numbers, QUICK a CI smoke run."""

    latency_writes: int
    latency_interval: float
    burst_files: int
    burst_dirs: int
    startup_files: int
    startup_dirs: int
    rename_files: int
    rename_bytes: int
    delete_files: int
    delete_dirs: int
    base_files: int  # a tree already there in every workload, so whole-tree rsyncs cost something
    base_dirs: int
    idle_s: float
    timeout_s: float  # per workload, on top of the tool's own delay
    bigburst_bytes: int = 63_000_000  # bigburst and writer: burst's files, varied sizes
    sedi_files: int = 800
    sedi_dirs: int = 40


FULL = Sizes(30, 1.0, 20_000, 1_000, 100_000, 10_000, 2_000, 200 * 2**20, 5_000, 500,
             1_000, 100, 10.0, 300.0)
QUICK = Sizes(5, 0.3, 500, 50, 2_000, 200, 50, 5 * 2**20, 200, 20,
              100, 10, 2.0, 30.0, bigburst_bytes=1_575_000, sedi_files=40, sedi_dirs=4)


@dataclass
class Outcome:
    """What a workload did: when it started and ended, and what the destination must show."""

    started: float
    ended: float
    probe: Probe
    extras: dict[str, float] = field(default_factory=dict)
    error: str = ""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); plain and exact for 30 samples."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Workload:
    """Base: a workload on top of the base tree."""

    name = ""
    presync = True  # the destination starts equal to the source
    has_floor = True
    floor_is_writer = False  # the floor row times the writer alone instead of one rsync

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes

    def prepare(self, src: Path) -> None:
        src.mkdir(parents=True, exist_ok=True)
        make_tree(src / "base", self.sizes.base_files, self.sizes.base_dirs, prefix="b")

    def run(self, src: Path, dst: Path, deadline_after: float) -> Outcome:
        started = time.monotonic()
        probe = self.change_at_once(src)
        return Outcome(started, time.monotonic(), probe)

    def change_at_once(self, src: Path) -> Probe:
        raise NotImplementedError


class Latency(Workload):
    """Lone small-file writes, spaced out; each timed from close() until the copy is visible."""

    name = "latency"

    def prepare(self, src: Path) -> None:
        super().prepare(src)
        (src / "lat").mkdir()

    def change_at_once(self, src: Path) -> Probe:
        rel = "lat/w000.txt"
        data = small_content(rel, "floor")
        write_file(src / rel, data)
        return Probe(present={rel: len(data)})

    def run(self, src: Path, dst: Path, deadline_after: float) -> Outcome:
        n, interval = self.sizes.latency_writes, self.sizes.latency_interval
        pending: dict[str, tuple[bytes, float]] = {}
        latencies: list[float] = []
        sizes: dict[str, int] = {}
        started = time.monotonic()
        next_write, written, ended = started, 0, started
        hard_stop = started + n * interval + deadline_after
        while written < n or pending:
            now = time.monotonic()
            if written < n and now >= next_write:
                rel = f"lat/w{written:03d}.txt"
                data = small_content(rel, f"write {written} at {now}")
                write_file(src / rel, data)
                ended = time.monotonic()
                pending[rel] = (data, ended)
                sizes[rel] = len(data)
                written += 1
                next_write += interval
            for rel, (data, t_write) in list(pending.items()):
                try:
                    with open(dst / rel, "rb") as f:
                        visible = f.read() == data
                except OSError:
                    visible = False
                if visible:
                    latencies.append(time.monotonic() - t_write)
                    del pending[rel]
            if now > hard_stop:
                break
            time.sleep(0.002)
        extras: dict[str, float] = {}
        if latencies:
            extras = {"p50_s": percentile(latencies, 50), "p95_s": percentile(latencies, 95),
                      "max_s": max(latencies), "seen": float(len(latencies))}
        error = f"{len(pending)} of {n} writes never became visible" if pending else ""
        return Outcome(started, ended, Probe(present=sizes), extras, error)


class Burst(Workload):
    """Many small files in many new directories, written as fast as Python can."""

    name = "burst"

    def change_at_once(self, src: Path) -> Probe:
        rels = make_tree(src / "burst", self.sizes.burst_files, self.sizes.burst_dirs)
        return Probe(present={f"burst/{r}": len(small_content(r)) for r in rels})


class BigBurst(Workload):
    """Burst's count of files and directories, but with varied sizes (63 MB in all at full
    size), written as fast as one process can."""

    name = "bigburst"

    def change_at_once(self, src: Path) -> Probe:
        sizes = varied_sizes(self.sizes.burst_files, self.sizes.bigburst_bytes)
        rels = make_sized_tree(src / "bigburst", sizes, self.sizes.burst_dirs)
        return Probe(present={f"bigburst/{r}": n for r, n in zip(rels, sizes)})


class SedInPlace(Workload):
    """`sed -i` over files already there: each becomes a temporary file renamed over it."""

    name = "sedi"
    OLD, NEW = b"version 1\n", b"version 1.1\n"

    def prepare(self, src: Path) -> None:
        super().prepare(src)
        self.expected: dict[str, int] = {}
        per_dir = max(1, self.sizes.sedi_files // max(1, self.sizes.sedi_dirs))
        for i in range(self.sizes.sedi_files):
            rel = f"sedi/s{i // per_dir:03d}/page{i:04d}.html"
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            data = f"<p>{rel}</p>\n".encode() * 20 + self.OLD * (1 + i % 5)
            write_file(src / rel, data)
            self.expected[rel] = len(data.replace(self.OLD, self.NEW))

    def change_at_once(self, src: Path) -> Probe:
        subprocess.run(["sed", "-i", "s/^version 1$/version 1.1/",
                        *(str(src / rel) for rel in sorted(self.expected))], check=True)
        return Probe(present=dict(self.expected))


class Writer(Workload):
    """The writer's own time: `tar -x` of the bigburst tree, with a tool running (the rows of
    the tools) and with none (the floor row); the point is how much the tool slows a deploy."""

    name = "writer"
    floor_is_writer = True

    def prepare(self, src: Path) -> None:
        super().prepare(src)
        stage = src.parent / "writer-stage"
        self.tarball = src.parent / "bigburst.tar"
        self.file_sizes = varied_sizes(self.sizes.burst_files, self.sizes.bigburst_bytes)
        rels = make_sized_tree(stage / "bigburst", self.file_sizes, self.sizes.burst_dirs)
        self.top = "bigburst"  # what one extraction makes in src
        self.rels = [f"bigburst/{r}" for r in rels]
        subprocess.run(["tar", "-c", "-f", str(self.tarball), "-C", str(stage), "bigburst"],
                       check=True)
        shutil.rmtree(stage)

    def write(self, src: Path) -> tuple[float, float]:
        """Extract the tarball into src; (wall seconds from spawn to exit, tar's CPU)."""
        t0 = time.monotonic()
        proc = subprocess.Popen(["tar", "-x", "-f", str(self.tarball), "-C", str(src)])
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - t0
        if proc.returncode:
            raise RuntimeError(f"tar -x exited with {proc.returncode}")
        return elapsed, usage.ru_utime + usage.ru_stime

    def probe(self) -> Probe:
        return Probe(present=dict(zip(self.rels, self.file_sizes)))

    def change_at_once(self, src: Path) -> Probe:
        self.write(src)
        return self.probe()

    def run(self, src: Path, dst: Path, deadline_after: float) -> Outcome:
        started = time.monotonic()
        elapsed, cpu = self.write(src)
        return Outcome(started, started + elapsed, self.probe(),
                       {"writer_s": elapsed, "writer_cpu_s": cpu})


KERNEL_SOURCE = Path(os.environ.get("INOSYNC_BENCH_KERNEL",
                                    "/usr/src/linux-source-6.1.tar.xz"))
KERNEL_CACHE = Path("/var/tmp/inosync-bench")


def kernel_tarball() -> Path | None:
    """Debian's linux-source-6.1 (`bash bench/setup kernel`), unpacked from xz once into
    KERNEL_CACHE so the writer's time is tar's, not xz's; None when it is not installed."""
    if not KERNEL_SOURCE.is_file():
        return None
    plain = KERNEL_CACHE / KERNEL_SOURCE.name.removesuffix(".xz")
    if not plain.is_file() or plain.stat().st_mtime < KERNEL_SOURCE.stat().st_mtime:
        KERNEL_CACHE.mkdir(parents=True, exist_ok=True)
        partial = plain.with_suffix(".part")
        with open(partial, "wb") as out:
            subprocess.run(["xz", "-dc", str(KERNEL_SOURCE)], stdout=out, check=True)
        partial.rename(plain)
    return plain


class Kernel(Writer):
    """`tar -x` of the Linux source (about 83,700 entries, 1.36 GB), a release-sized deploy:
    the writer's own time beside the floor's, and from the first byte to the node's last."""

    name = "kernel"

    def prepare(self, src: Path) -> None:
        Workload.prepare(self, src)
        tarball = kernel_tarball()
        if tarball is None:
            raise RuntimeError(f"{KERNEL_SOURCE} is missing: run `bash bench/setup kernel`")
        self.tarball = tarball
        with tarfile.open(tarball) as archive:
            files = [m for m in archive.getmembers() if m.isfile()]
        self.top = files[0].name.split("/", 1)[0]
        self.rels = [m.name for m in files]
        self.file_sizes = [m.size for m in files]


class Startup(Workload):
    """A big tree already there and an empty destination; the daemon's start is the workload."""

    name = "startup"
    presync = False

    def prepare(self, src: Path) -> None:
        src.mkdir(parents=True, exist_ok=True)
        self.rels = make_tree(src / "tree", self.sizes.startup_files, self.sizes.startup_dirs)

    def change_at_once(self, src: Path) -> Probe:
        return self.expected()

    def expected(self) -> Probe:
        return Probe(present={f"tree/{r}": len(small_content(r)) for r in self.rels})


class Rename(Workload):
    """`mv` of a directory of big files: a mirror that understands moves sends almost nothing."""

    name = "rename"

    def prepare(self, src: Path) -> None:
        super().prepare(src)
        files = self.sizes.rename_files
        self.file_size = self.sizes.rename_bytes // files
        self.rels = make_tree(src / "big", files, max(1, files // 100), size=self.file_size)

    def change_at_once(self, src: Path) -> Probe:
        os.rename(src / "big", src / "big-renamed")
        return Probe(present={f"big-renamed/{r}": self.file_size for r in self.rels},
                     absent=["big"])


class Deletes(Workload):
    """Remove N files in M leaf directories (the directories go too, their parents stay)."""

    name = "deletes"

    def prepare(self, src: Path) -> None:
        super().prepare(src)
        rels = make_tree(src / "del", self.sizes.delete_files, self.sizes.delete_dirs)
        self.leaf_dirs = sorted({os.path.dirname(r) for r in rels})

    def change_at_once(self, src: Path) -> Probe:
        for leaf in self.leaf_dirs:
            shutil.rmtree(src / "del" / leaf)
        return Probe(absent=[f"del/{leaf}" for leaf in self.leaf_dirs])


class Idle(Workload):
    """No change at all: the daemon should sleep (only watchdog pings, if any)."""

    name = "idle"
    has_floor = False

    def change_at_once(self, src: Path) -> Probe:
        return Probe()

    def run(self, src: Path, dst: Path, deadline_after: float) -> Outcome:
        started = time.monotonic()
        time.sleep(self.sizes.idle_s)
        return Outcome(started, time.monotonic(), Probe())


WORKLOADS: dict[str, type[Workload]] = {
    w.name: w for w in (Latency, Burst, BigBurst, SedInPlace, Writer, Kernel, Startup,
                        Rename, Deletes, Idle)
}
