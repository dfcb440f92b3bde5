"""Filesystems mounted below wpath: which are there, which were lost, which came back.

A mount sends no inotify event, and an unmounted filesystem leaves an empty directory that
a sync would mirror as "everything below here was deleted". So the daemon reads the mount
table (once a second and before starting syncs) and keeps a `MountState`: the mount points
below wpath that are mounted, and the ones that lost their filesystem. A lost mount point is
protected - left out of every command a node runs, so its copy stays on the nodes - while
its directory exists with nothing mounted on it; a filesystem with something in it mounted
there again, or the operator removing the directory, ends the protection.

The parsers, `advance` and the rest above the I/O heading are pure; below it, the mount
table, fstab and the tree are read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from inosync.changes import ROOT, is_under, rebase

MOUNTINFO = "/proc/self/mountinfo"
FSTAB = "/etc/fstab"
_OCTAL = re.compile(rb"\\([0-7]{3})")


def unescape(field: bytes) -> str:
    r"""A mount table field as a path: the kernel and fstab write space, tab, newline and
    backslash as \040, \011, \012 and \134."""
    return os.fsdecode(_OCTAL.sub(lambda m: bytes([int(m.group(1), 8) & 0xFF]), field))


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo (proc(5)): what is mounted where."""

    mount_id: int
    parent_id: int
    root: str  # the directory of the filesystem that is mounted (a bind mount's subdir)
    point: str  # where, as seen from this process's root
    fstype: str
    source: str


def parse_mountinfo(text: bytes) -> list[Mount]:
    """Every well-formed line; optional fields end at the lone "-" separator."""
    mounts = []
    for line in text.split(b"\n"):
        fields = line.split(b" ")
        try:
            sep = fields.index(b"-", 6)
            mounts.append(Mount(int(fields[0]), int(fields[1]), unescape(fields[3]),
                                unescape(fields[4]), unescape(fields[sep + 1]),
                                unescape(fields[sep + 2])))
        except (ValueError, IndexError):
            continue  # a blank or foreign line: not a mount
    return mounts


def tops(mounts: Iterable[Mount]) -> dict[str, int]:
    """Each mount point's topmost mount: the one no other mount there is stacked on."""
    at: dict[str, list[Mount]] = {}
    for mount in mounts:
        at.setdefault(mount.point, []).append(mount)
    top = {}
    for point, stack in at.items():
        below_others = {m.parent_id for m in stack}
        top[point] = next((m.mount_id for m in reversed(stack)
                           if m.mount_id not in below_others), stack[-1].mount_id)
    return top


def replaced(before: Mapping[str, int], after: Mapping[str, int]) -> frozenset[str]:
    """Mount points that stayed mounted, but by another mount (unmounted and mounted again
    between two looks, or one stacked on top): what is there now is not what was watched."""
    return frozenset(p for p, mount_id in after.items() if before.get(p, mount_id) != mount_id)


@dataclass(frozen=True)
class FstabEntry:
    spec: str
    point: str
    fstype: str
    options: tuple[str, ...]


def parse_fstab(text: bytes) -> list[FstabEntry]:
    """fstab(5): whitespace-separated fields, '#' comments; missing fields are defaults."""
    entries = []
    for line in text.split(b"\n"):
        fields = line.split(b"#", 1)[0].split()
        if len(fields) < 2:
            continue
        fstype = unescape(fields[2]) if len(fields) > 2 else "auto"
        options = tuple(unescape(fields[3]).split(",")) if len(fields) > 3 else ("defaults",)
        entries.append(FstabEntry(unescape(fields[0]), unescape(fields[1]), fstype, options))
    return entries


def mounted_at_boot(entries: Iterable[FstabEntry]) -> list[str]:
    """Mount points fstab has mounted at boot: not swap, not `noauto` (those are mounted by
    hand, so nothing there is no sign of a loss)."""
    return [e.point for e in entries
            if e.point.startswith("/") and e.fstype != "swap" and "noauto" not in e.options]


def below(top: str, points: Iterable[str]) -> frozenset[str]:
    """The points strictly below the directory `top` (a resolved path), relative to it."""
    base = top.rstrip("/") + "/"
    found = (os.path.normpath(point) for point in points)
    return frozenset(point[len(base):] for point in found
                     if point.startswith(base) and len(point) > len(base))


@dataclass(frozen=True)
class MountState:
    """Mount points below wpath (relative paths): mounted now, and lost (protected)."""

    mounted: frozenset[str] = frozenset()
    lost: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MountChanges:
    """What one look at the mount table found, for the daemon to act on."""

    appeared: frozenset[str] = frozenset()  # newly mounted: watch, walk and sync it
    unmounted: frozenset[str] = frozenset()  # its filesystem went: watch what is under it
    lost: frozenset[str] = frozenset()  # newly protected
    back: frozenset[str] = frozenset()  # protection ended by a filesystem with content
    released: frozenset[str] = frozenset()  # protection ended by the directory's removal

    def __bool__(self) -> bool:
        return bool(self.appeared or self.unmounted or self.lost or self.back
                    or self.released)


def _covered(path: str, lost: Iterable[str]) -> bool:
    """Below another lost mount point (not itself): gone with it, back with it."""
    return any(other != path and is_under(path, other) for other in lost)


def advance(state: MountState, mounted: frozenset[str], dirs: Callable[[str], bool],
            has_entries: Callable[[str], bool], other: frozenset[str] = frozenset()
            ) -> tuple[MountState, MountChanges]:
    """The next state from the mount points mounted now. `dirs(path)`: is it a directory
    now; `has_entries(path)`: does the filesystem mounted there hold anything; `other`:
    mount points mounted before and now, but by another mount (see `replaced`).

    A mount point that disappears below another lost one (a lazy unmount takes the mounts
    below it along) stays lost, so it is still protected when its parent comes back.
    """
    appeared = (mounted - state.mounted) | (other & mounted & state.mounted)
    unmounted = state.mounted - mounted
    candidates = state.lost | unmounted
    lost = set(state.lost)
    for path in sorted(unmounted):
        if dirs(path) or _covered(path, candidates):
            lost.add(path)
    back = {path for path in lost if path in mounted and has_entries(path)}
    lost -= back
    released = {path for path in lost if path not in mounted and not dirs(path)
                and not _covered(path, lost)}
    lost -= released
    new_lost = frozenset(lost) - state.lost
    return MountState(mounted, frozenset(lost)), MountChanges(
        appeared, unmounted, new_lost, frozenset(back), frozenset(released))


def listed_but_missing(mounted: frozenset[str], listed: frozenset[str],
                       dirs: Callable[[str], bool]) -> frozenset[str]:
    """At start-up: mount points fstab mounts at boot that have nothing mounted but whose
    directory is there - most likely a filesystem that failed to mount."""
    return frozenset(p for p in listed - mounted if dirs(p))


def moved(state: MountState, src: str, dst: str) -> MountState:
    """A directory renamed inside the tree takes its lost mount points along."""
    if src == ROOT:
        return state
    return MountState(state.mounted, frozenset(
        rebase(p, src, dst) if is_under(p, src) else p for p in state.lost))


# -- I/O -------------------------------------------------------------------------------


def read_table(path: str = MOUNTINFO) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def mounted_below(table: bytes, wpath: str) -> dict[str, int]:
    """Mount points below wpath (followed if it is a symlink) in a mountinfo text, each
    with the id of its topmost mount."""
    top = os.path.realpath(wpath)
    found = {os.path.normpath(p): i for p, i in tops(parse_mountinfo(table)).items()}
    return {relpath: found[os.path.join(top, relpath)] for relpath in below(top, found)}


def is_dir_at(wpath: str) -> Callable[[str], bool]:
    def is_dir(relpath: str) -> bool:
        return os.path.isdir(os.path.join(wpath, relpath)) and not os.path.islink(
            os.path.join(wpath, relpath))
    return is_dir


def has_entries_at(wpath: str) -> Callable[[str], bool]:
    def has_entries(relpath: str) -> bool:
        try:
            with os.scandir(os.path.join(wpath, relpath)) as listing:
                return any(True for _ in listing)
        except OSError:
            return False
    return has_entries


def observe(wpath: str, table: bytes | None = None, fstab: str | None = FSTAB,
            excluded: Callable[[str], bool] = lambda path: False) -> MountState:
    """The state at start-up: what is mounted below wpath, and as lost what fstab mounts
    at boot there but is not mounted now (a restart while a filesystem is missing)."""
    mounted = frozenset(p for p in mounted_below(
        read_table() if table is None else table, wpath) if not excluded(p))
    listed: frozenset[str] = frozenset()
    if fstab is not None:
        raw = read_table(fstab)
        points = (os.path.realpath(p) for p in mounted_at_boot(parse_fstab(raw)))
        listed = frozenset(p for p in below(os.path.realpath(wpath), points)
                           if not excluded(p))
    return MountState(mounted, listed_but_missing(mounted, listed, is_dir_at(wpath)))
