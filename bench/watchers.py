#!/usr/bin/env python3
"""Watching a big tree with each backend: how long the watches take to go in, the daemon's
memory, and the kernel's (bench/README.md, "Watcher backends").

    python3 bench/watchers.py [--dirs 1000000] [--fs tmpfs|ext4] [--ready] [--events N]
                              [--empty-files] [--json OUT]

As root: it mounts a filesystem of its own for the tree (a tmpfs, or an ext4 image on a
loop device; with `--ready` another for the node's copy), raises
fs.inotify.max_user_watches for the inotify run when it is too low and puts it back after.
The tree: DIRS directories two levels deep, one small file in each (empty with
`--empty-files`, so that 3,000,000 of them and the node's copy fit in RAM on tmpfs). For
each backend the daemon starts with a local node and is stopped once its watch line is
logged, or with `--ready` once its first full sync into the empty node is done, beside
the floor (one plain `rsync -a --delete` of the tree). `--events N` then also times how
long each backend's `read()` takes per event for N files written (and closed) in batches
of 1,000 (each queue holds 16,384 events), in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib.meters import proc_status  # noqa: E402
from lib.scale import MARK_SLABS, mark_slab_bytes, watch_limit_at_least  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WATCH_LINE = re.compile(r"watching (?:(\d+) directories \((\d+) entries\) under|all of) .* "
                        r"in (\d+) ms with (\w+)")


def make_filesystem(kind: str, base: Path, dirs: int, name: str) -> Path:
    root = base / name
    root.mkdir()
    if kind == "tmpfs":
        argv = ["mount", "-t", "tmpfs", "-o", "nr_inodes=0,size=50%", "inosync-bench", str(root)]
    else:
        image = base / f"{name}.img"
        # a directory takes a 4 KiB block and an inode, its file another inode
        size = max(1 << 30, dirs * 3 * 4096)
        subprocess.run(["truncate", "-s", str(size), str(image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-N", str(dirs * 4 + 200_000), str(image)],
                       check=True)
        argv = ["mount", "-o", "loop", str(image), str(root)]
    subprocess.run(argv, check=True)
    return root


FILE_DATA = b"x\n"  # each leaf's file, unless --empty-files


def make_tree(src: Path, dirs: int, data: bytes) -> None:
    """Two levels: about sqrt(dirs) parents with sqrt(dirs) leaves each, one file a leaf."""
    top = max(1, int(dirs ** 0.5))
    for index in range(dirs):
        leaf = src / f"d{index % top:04d}" / f"d{index:07d}"
        os.makedirs(leaf, exist_ok=True)
        with open(leaf / "f", "wb") as handle:
            handle.write(data)


def run_backend(backend: str, root: Path, nodes: Path, work: Path, dirs: int,
                timeout: float, ready: bool) -> dict[str, object]:
    # The node's copy is on a filesystem of the same kind (as quick as the source), not on
    # the source's: fanotify would read (and drop) every write of the node's copy too.
    dst = nodes / f"dst-{backend}"
    dst.mkdir()
    config = work / f"{backend}.toml"
    config.write_text(f'wpath = "{root / "src"}"\nrpath = "{dst}"\nrnodes = [""]\n'
                      f'watcher = "{backend}"\nverify_interval = 0\n')
    log_path = work / f"{backend}.log"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("NOTIFY_SOCKET", None)
    slab_before = mark_slab_bytes()
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "inosync", "-c", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    result: dict[str, object] = {"backend": backend, "dirs": dirs}
    try:
        match = None
        while match is None and time.monotonic() < started + timeout:
            if proc.poll() is not None:
                break
            match = WATCH_LINE.search(log_path.read_text(errors="replace"))
            time.sleep(0.05)
        if match is None:
            result["error"] = log_path.read_text(errors="replace")[-2000:]
            return result
        result["watching_s"] = round(time.monotonic() - started, 2)
        result["walk_own_s"] = int(match.group(3)) / 1000
        if match.group(1) is not None:  # fanotify walks nothing before it watches
            result["directories"], result["entries"] = int(match.group(1)), int(match.group(2))
        result["used"] = match.group(4)
        status = proc_status(proc.pid)
        result["rss_MiB"] = round(status.get("VmRSS", 0) / 1024, 1)
        slab = mark_slab_bytes()
        if slab is not None and slab_before is not None:
            result["kernel_marks_MiB"] = round((slab - slab_before) / 2**20, 1)
        if ready:  # the first full sync into the empty node, count included
            while "full sync done" not in log_path.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > started + timeout:
                    result["error"] = log_path.read_text(errors="replace")[-2000:]
                    return result
                time.sleep(0.05)
            result["ready_s"] = round(time.monotonic() - started, 2)
        result["hwm_MiB"] = round(proc_status(proc.pid).get("VmHWM", 0) / 1024, 1)
        return result
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(dst, ignore_errors=True)


def floor(root: Path, nodes: Path) -> dict[str, object]:
    """The floor of a start-up: one plain rsync of the tree into an empty directory."""
    dst = nodes / "dst-floor"
    started = time.monotonic()
    subprocess.run(["rsync", "-a", "--delete", f"{root / 'src'}/", f"{dst}/"], check=True)
    seconds = round(time.monotonic() - started, 2)
    shutil.rmtree(dst, ignore_errors=True)
    return {"backend": "floor (rsync -a --delete)", "ready_s": seconds}


def time_events(backend: str, root: Path, files: int) -> dict[str, object]:
    """Microseconds of `read()` per file written and closed (its create, write and close)."""
    sys.path.insert(0, str(REPO))
    from inosync.rsync.excludes import ExcludeMatcher
    from inosync.source.fanotify_watcher import FanotifyWatcher
    from inosync.source.watcher import Watcher

    top = root / f"events-{backend}"
    top.mkdir()
    kind = FanotifyWatcher if backend == "fanotify" else Watcher
    watcher = kind(str(top), ExcludeMatcher(()))
    watcher.watch_tree()
    spent, facts = 0.0, 0
    try:
        for start in range(0, files, 1000):
            for index in range(start, min(files, start + 1000)):
                with open(top / f"f{index}", "wb") as handle:
                    handle.write(b"x")
            t0 = time.perf_counter()
            while (batch := watcher.read()):
                facts += len(batch)
            spent += time.perf_counter() - t0
    finally:
        watcher.close()
        shutil.rmtree(top)
    return {"backend": backend, "files": files, "facts": facts,
            "read_us_per_file": round(spent / files * 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dirs", type=int, default=1_000_000)
    parser.add_argument("--fs", choices=("tmpfs", "ext4"), default="tmpfs")
    parser.add_argument("--backends", default="inotify,fanotify")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--ready", action="store_true",
                        help="wait for each daemon's first full sync too, and time the floor")
    parser.add_argument("--empty-files", action="store_true",
                        help="files of 0 bytes: on tmpfs each small file takes a 4 KiB page, "
                             "so 3,000,000 and the node's copy need about 30 GB, or 11 GB empty")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/watchers.py: needs root (a filesystem of its own, fanotify)",
              file=sys.stderr)
        return 2
    data = b"" if args.empty_files else FILE_DATA
    base = Path(tempfile.mkdtemp(prefix="inosync-watchers-"))
    results: list[dict[str, object]] = []

    def record(result: dict[str, object]) -> None:
        result["fs"] = args.fs
        result["file_bytes"] = len(data)
        print(json.dumps(result), flush=True)
        results.append(result)
        if args.json:  # after each run: a later failure keeps what was measured
            args.json.write_text(json.dumps({"kernel": os.uname().release,
                                             "slabs": MARK_SLABS, "results": results},
                                            indent=1) + "\n")

    try:
        root = make_filesystem(args.fs, base, args.dirs, "fs")
        nodes = make_filesystem(args.fs, base, args.dirs, "nodes") if args.ready else root
        t0 = time.monotonic()
        make_tree(root / "src", args.dirs, data)
        print(f"tree of {args.dirs} directories made in {time.monotonic() - t0:.0f} s",
              flush=True)
        with watch_limit_at_least(int(args.dirs * 1.1) + 10000):
            for backend in args.backends.split(","):
                record(run_backend(backend, root, nodes, base, args.dirs, args.timeout,
                                   args.ready))
        if args.ready:
            record(floor(root, nodes))
        for backend in args.backends.split(",") if args.events else ():
            record(time_events(backend, root, args.events))
    finally:
        for name in ("fs", "nodes"):
            subprocess.run(["umount", "-l", str(base / name)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
