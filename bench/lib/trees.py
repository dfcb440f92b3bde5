"""Make trees, describe them, and decide when a destination equals its source.

Why two steps to detect convergence: a whole-tree comparison of 100,000 files takes seconds,
far too coarse to time a 50 ms sync. So the harness first polls a cheap *probe* (the paths the
workload created must exist with their size, the ones it removed must be gone), which is a
necessary condition for equality, and records that moment; then it confirms with a full
comparison (relative paths, types, modes, sizes, symlink targets, content hashes). If the
confirmation fails it keeps comparing until it passes, and the time of the first passing
comparison counts instead.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Entry = tuple[str, int, int, str]  # (type, mode, size, content digest or link target)


def small_content(rel: str, salt: str = "") -> bytes:
    """Deterministic content for a small file, distinct per path."""
    return f"{rel}\n{salt}\n".encode() * 4


def write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def make_tree(root: Path, files: int, dirs: int, size: int = 0, prefix: str = "d") -> list[str]:
    """`files` files spread evenly over `dirs` directories (two levels deep); returns rel paths.

    size=0 means small files with path-derived content; otherwise files of `size` bytes.
    """
    rels: list[str] = []
    per_dir = max(1, files // max(1, dirs))
    top = max(1, int(dirs**0.5))
    block = os.urandom(size) if size else b""
    made = 0
    for d in range(dirs):
        drel = f"{prefix}{d % top:03d}/{prefix}{d:05d}"
        (root / drel).mkdir(parents=True, exist_ok=True)
        count = per_dir if d < dirs - 1 else files - made
        for i in range(count):
            rel = f"{drel}/f{i:04d}.txt"
            if size:
                # Distinct head per file so no two files are identical.
                head = rel.encode().ljust(64, b".")
                write_file(root / rel, (head + block)[:size])
            else:
                write_file(root / rel, small_content(rel))
            rels.append(rel)
        made += count
    return rels


def varied_sizes(count: int, total: int, seed: int = 1) -> list[int]:
    """`count` file sizes that sum to `total`: log-normal like a web tree's (many small files,
    a few large), the same every run."""
    rng = random.Random(seed)
    raw = [rng.lognormvariate(0.0, 1.2) for _ in range(count)]
    scale = total / sum(raw)
    sizes = [max(1, int(r * scale)) for r in raw]
    sizes[-1] = max(1, sizes[-1] + total - sum(sizes))
    return sizes


def make_sized_tree(root: Path, sizes: list[int], dirs: int, prefix: str = "d") -> list[str]:
    """One file per entry of `sizes`, spread evenly over `dirs` directories like make_tree's;
    every file's content is distinct (its path, then random bytes)."""
    rels: list[str] = []
    per_dir = max(1, len(sizes) // max(1, dirs))
    top = max(1, int(dirs**0.5))
    block = os.urandom(max(sizes, default=0))
    n = 0
    for d in range(dirs):
        drel = f"{prefix}{d % top:03d}/{prefix}{d:05d}"
        (root / drel).mkdir(parents=True, exist_ok=True)
        count = per_dir if d < dirs - 1 else len(sizes) - n
        for i in range(count):
            rel = f"{drel}/f{i:04d}.dat"
            size = sizes[n]
            write_file(root / rel, (rel.encode() + block)[:size])
            rels.append(rel)
            n += 1
    return rels


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _digest(path: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def manifest(root: Path) -> dict[str, Entry]:
    """Every entry below root (root itself as '.') with what must match on the other side."""
    out: dict[str, Entry] = {}
    root_s = str(root)
    st = os.lstat(root_s)
    out["."] = ("d", stat.S_IMODE(st.st_mode), 0, "")
    stack = [root_s]
    while stack:
        top = stack.pop()
        with os.scandir(top) as it:
            for e in it:
                rel = os.path.relpath(e.path, root_s)
                st = e.stat(follow_symlinks=False)
                mode = stat.S_IMODE(st.st_mode)
                if stat.S_ISDIR(st.st_mode):
                    out[rel] = ("d", mode, 0, "")
                    stack.append(e.path)
                elif stat.S_ISLNK(st.st_mode):
                    out[rel] = ("l", 0, 0, os.readlink(e.path))
                elif stat.S_ISREG(st.st_mode):
                    out[rel] = ("f", mode, st.st_size, _digest(e.path))
                else:
                    out[rel] = ("o", mode, 0, "")
    return out


def _kept(rel: str) -> bool:
    """What a node keeps with keep_deleted on is never part of the mirror."""
    return rel == ".inosync-kept" or rel.startswith(".inosync-kept/")


def diff(src: dict[str, Entry], dst: dict[str, Entry], limit: int = 5) -> list[str]:
    """Human-readable differences, at most `limit`, plus a count line when there are more."""
    problems: list[str] = []
    missing = sorted(set(src) - set(dst))
    extra = sorted(k for k in set(dst) - set(src) if not _kept(k))
    changed = sorted(k for k in set(src) & set(dst) if src[k] != dst[k])
    problems += [f"missing {k}" for k in missing[:limit]]
    problems += [f"extra {k}" for k in extra[:limit]]
    problems += [f"differs {k}: {src[k][:3]} vs {dst[k][:3]}" for k in changed[:limit]]
    total = len(missing) + len(extra) + len(changed)
    if total > len(problems):
        problems.append(f"... {len(missing)} missing, {len(extra)} extra, {len(changed)} differ")
    return problems


class Probe:
    """Paths that must exist with a size, and paths that must be gone, on the destination.

    Polling must stay cheap while a daemon syncs 100,000 files next to it: a poller that
    lstat()s every missing path each round would take a core and fight the daemon's rsync for
    directory locks. So the paths are kept in sorted order (roughly the order rsync makes them)
    and each round advances a cursor past satisfied paths and stops at the first unsatisfied
    one: every path costs one successful check in total, plus one failed check per round.
    """

    def __init__(self, present: dict[str, int] | None = None,
                 absent: list[str] | None = None) -> None:
        self._present = sorted((present or {}).items())
        self._absent = sorted(absent or [])
        self._p = 0  # cursor into _present
        self._a = 0  # cursor into _absent

    def remaining(self) -> tuple[list[str], list[str]]:
        """(paths still missing, paths still there) as of the last round; for error messages."""
        return [rel for rel, _ in self._present[self._p:]], self._absent[self._a:]

    def prune(self, dst: Path) -> bool:
        """Advance past satisfied paths; True when every path is satisfied."""
        present, absent = self._present, self._absent
        while self._p < len(present):
            rel, size = present[self._p]
            try:
                if os.lstat(dst / rel).st_size != size:
                    break
            except OSError:
                break
            self._p += 1
        while self._a < len(absent) and not os.path.lexists(dst / absent[self._a]):
            self._a += 1
        return self._p == len(present) and self._a == len(absent)


@dataclass
class Convergence:
    converged: bool
    at: float  # monotonic time the destination was seen equal (probe, confirmed)
    verify_s: float  # how long the confirming comparison took
    problems: list[str]


def wait_converged(src: Path, dst: Path, probe: Probe, deadline: float,
                   poll: float = 0.002,
                   alive: Callable[[], bool] = lambda: True,
                   verify: bool = True) -> Convergence:
    """Poll the probe, then confirm with a whole-tree comparison; give up at `deadline`
    (or as soon as `alive()` says the daemon that should get there has died).
    verify=False trusts the probe alone (the scale runs: hashing two trees of a million
    files would take longer than the run itself)."""
    rounds = 0
    while not probe.prune(dst):
        rounds += 1
        if time.monotonic() > deadline or (rounds % 50 == 0 and not alive()):
            missing, still_there = probe.remaining()
            return Convergence(False, time.monotonic(), 0.0,
                               [f"probe: {len(missing)} paths missing, "
                                f"{len(still_there)} not deleted"]
                               + [f"missing {p}" for p in missing[:3]]
                               + [f"not deleted {p}" for p in still_there[:3]])
        time.sleep(poll)
    seen = time.monotonic()
    if not verify:
        return Convergence(True, seen, 0.0, [])
    first = True
    while True:
        t0 = time.monotonic()
        problems = diff(manifest(src), manifest(dst))
        t1 = time.monotonic()
        if not problems:
            # After a failed comparison only the end of a passing one proves equality.
            return Convergence(True, seen if first else t1, t1 - t0, [])
        if t1 > deadline:
            return Convergence(False, t1, t1 - t0, problems)
        first = False
        time.sleep(0.1)
