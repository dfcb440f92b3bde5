"""Whole-tree snapshots and comparison: the one assertion every integration test makes."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Union

import pytest

PathLike = Union[str, bytes, os.PathLike]


@dataclass(frozen=True)
class Entry:
    """What a mirror must reproduce of one path: type, mode, size, content, file mtime."""

    kind: str  # "d" dir, "f" file, "l" symlink, "o" other
    mode: int | None  # permission bits (None for symlinks)
    size: int | None
    digest: bytes | None  # sha256 of a file, or the target of a symlink
    mtime_ns: int | None  # files only; directory mtimes are not compared

    def describe(self) -> str:
        if self.kind == "d":
            return f"dir mode={oct(self.mode or 0)}"
        if self.kind == "l":
            return f"symlink -> {self.digest!r}"
        if self.kind == "f":
            return (
                f"file mode={oct(self.mode or 0)} size={self.size} "
                f"sha256={(self.digest or b'').hex()[:12]} mtime_ns={self.mtime_ns}"
            )
        return "other"


Snapshot = dict[bytes, Entry]


# ---- rsync-style exclude patterns (the subset tests use: *, ?, **, leading /, trailing /) ----


def _pattern_regex(pattern: bytes) -> re.Pattern[bytes]:
    out = b""
    i = 0
    while i < len(pattern):
        c = pattern[i : i + 1]
        if pattern[i : i + 2] == b"**":
            out += b".*"
            i += 2
            continue
        if c == b"*":
            out += b"[^/]*"
        elif c == b"?":
            out += b"[^/]"
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + b"\\Z", re.S)


class Excludes:
    """Decide whether a relative path is excluded, the way rsync's exclude rules do.

    A pattern without a '/' (apart from a trailing one) matches the last component at any
    depth; with a leading '/' it is anchored at the transfer root; otherwise it matches a
    trailing run of whole components. A trailing '/' matches directories only. Anything below
    an excluded directory is excluded too.
    """

    def __init__(self, patterns: Iterable[str | bytes] | None) -> None:
        self.rules: list[tuple[re.Pattern[bytes], bool, bool, bool]] = []
        for raw in patterns or ():
            p = os.fsencode(raw)
            dir_only = p.endswith(b"/")
            p = p.rstrip(b"/")
            anchored = p.startswith(b"/")
            p = p.lstrip(b"/")
            whole_path = anchored or b"/" in p
            self.rules.append((_pattern_regex(p), dir_only, anchored, whole_path))

    def _match_one(self, rel: bytes, is_dir: bool) -> bool:
        for regex, dir_only, anchored, whole_path in self.rules:
            if dir_only and not is_dir:
                continue
            if not whole_path:
                if regex.match(rel.rsplit(b"/", 1)[-1]):
                    return True
            elif anchored:
                if regex.match(rel):
                    return True
            else:
                parts = rel.split(b"/")
                if any(regex.match(b"/".join(parts[k:])) for k in range(len(parts))):
                    return True
        return False

    def __call__(self, rel: bytes, is_dir: bool) -> bool:
        parts = rel.split(b"/")
        for k in range(1, len(parts)):
            if self._match_one(b"/".join(parts[:k]), True):
                return True
        return self._match_one(rel, is_dir)


# ---- snapshots ----


def _file_digest(path: bytes) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def snapshot(root: PathLike, excludes: Iterable[str | bytes] | Excludes | None = None) -> Snapshot:
    """Map every path below root (relative, bytes) to an Entry; symlinks are never followed.

    Raises FileNotFoundError when the tree changes under the walk; callers that poll retry.
    """
    top = os.fsencode(os.fspath(root))
    excl = excludes if isinstance(excludes, Excludes) else Excludes(excludes)
    snap: Snapshot = {}
    stack = [b""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(top, rel_dir) if rel_dir else top) as it:
            entries = list(it)
        for de in entries:
            rel = rel_dir + b"/" + de.name if rel_dir else de.name
            st = os.lstat(os.path.join(top, rel))
            is_dir = stat.S_ISDIR(st.st_mode)
            if excl.rules and excl(rel, is_dir):
                continue
            if is_dir:
                snap[rel] = Entry("d", stat.S_IMODE(st.st_mode), None, None, None)
                stack.append(rel)
            elif stat.S_ISLNK(st.st_mode):
                snap[rel] = Entry("l", None, None, os.readlink(os.path.join(top, rel)), None)
            elif stat.S_ISREG(st.st_mode):
                snap[rel] = Entry(
                    "f",
                    stat.S_IMODE(st.st_mode),
                    st.st_size,
                    _file_digest(os.path.join(top, rel)),
                    st.st_mtime_ns,
                )
            else:
                snap[rel] = Entry("o", stat.S_IMODE(st.st_mode), None, None, None)
    return snap


def stable_snapshot(root: PathLike, excludes: Iterable[str | bytes] | Excludes | None = None,
                    tries: int = 20) -> Snapshot:
    """A snapshot that tolerates paths vanishing while the tree is walked."""
    for _ in range(tries - 1):
        try:
            return snapshot(root, excludes)
        except (FileNotFoundError, NotADirectoryError):
            time.sleep(0.01)
    return snapshot(root, excludes)


def diff_snapshots(src: Snapshot, dst: Snapshot, limit: int = 40) -> str:
    """A readable difference: paths missing on the node, extra on the node, different."""
    missing = sorted(set(src) - set(dst))
    extra = sorted(set(dst) - set(src))
    different = sorted(p for p in set(src) & set(dst) if src[p] != dst[p])
    lines: list[str] = []
    for title, paths in (("missing on node", missing), ("extra on node", extra),
                         ("different", different)):
        if not paths:
            continue
        lines.append(f"{title} ({len(paths)}):")
        for p in paths[:limit]:
            if title == "different":
                lines.append(f"  {p!r}\n    src: {src[p].describe()}\n    dst: {dst[p].describe()}")
            elif title == "missing on node":
                lines.append(f"  {p!r}  ({src[p].describe()})")
            else:
                lines.append(f"  {p!r}  ({dst[p].describe()})")
        if len(paths) > limit:
            lines.append(f"  ... and {len(paths) - limit} more")
    return "\n".join(lines) or "(no difference)"


def wait_converged(
    src: PathLike,
    dst: PathLike,
    timeout: float = 10.0,
    excludes: Iterable[str | bytes] | Excludes | None = None,
    what: str = "",
    alive: Callable[[], None] | None = None,
) -> float:
    """Poll until the trees are equal (files' mtimes included); return seconds taken.

    On timeout fail with the difference. `alive` is called each round (e.g. to fail fast when
    the daemon died).
    """
    excl = excludes if isinstance(excludes, Excludes) else Excludes(excludes)
    start = time.monotonic()
    deadline = start + timeout
    delay = 0.01
    while True:
        s = d = None
        try:
            s = snapshot(src, excl)
            d = snapshot(dst, excl)
        except (FileNotFoundError, NotADirectoryError):
            pass
        if s is not None and d is not None and s == d:
            return time.monotonic() - start
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            s = stable_snapshot(src, excl)
            d = stable_snapshot(dst, excl) if os.path.isdir(dst) else {}
            if s == d:
                return time.monotonic() - start
            pytest.fail(
                f"{what or 'trees'} not converged after {timeout:.1f}s\n"
                f"src={os.fsdecode(os.fspath(src))} dst={os.fsdecode(os.fspath(dst))}\n"
                + diff_snapshots(s, d),
                pytrace=False,
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def assert_trees_equal(src: PathLike, dst: PathLike,
                       excludes: Iterable[str | bytes] | Excludes | None = None) -> None:
    s, d = stable_snapshot(src, excludes), stable_snapshot(dst, excludes)
    if s != d:
        pytest.fail("trees differ\n" + diff_snapshots(s, d), pytrace=False)


def inodes(root: PathLike) -> dict[bytes, int]:
    """relpath -> inode of every regular file below root."""
    top = os.fsencode(os.fspath(root))
    out: dict[bytes, int] = {}
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                out[os.path.relpath(full, top)] = st.st_ino
    return out


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.02) -> object:
    """Poll predicate until it returns something truthy; fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def holds_for(predicate: Callable[[], object], duration: float, what: str,
              interval: float = 0.05) -> None:
    """Assert predicate stays truthy for `duration` seconds (for things that must NOT happen)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not predicate():
            pytest.fail(f"{what} stopped holding", pytrace=False)
        time.sleep(interval)
