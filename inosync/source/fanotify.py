"""The fanotify interface: its constants (linux/fanotify.h), and fanotify_init,
fanotify_mark, name_to_handle_at and open_by_handle_at called straight from libc.

No maintained Python binding exists; these four calls are all the watcher needs. A failure
is a `FanotifyUnavailable` whose text says which call failed on which path and why, in the
words a sysadmin acts on (a capability, a kernel version, a filesystem type).
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

from inosync.source.mounts import Mount, parse_mountinfo

# fanotify_init flags
FAN_CLOEXEC = 0x1
FAN_NONBLOCK = 0x2
FAN_CLASS_NOTIF = 0x0
FAN_REPORT_FID = 0x200
FAN_REPORT_DIR_FID = 0x400
FAN_REPORT_NAME = 0x800
FAN_REPORT_DFID_NAME = FAN_REPORT_DIR_FID | FAN_REPORT_NAME
INIT_FLAGS = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME | FAN_REPORT_FID

# fanotify_mark flags
FAN_MARK_ADD = 0x1
FAN_MARK_REMOVE = 0x2
FAN_MARK_FILESYSTEM = 0x100

# event bits
FAN_MODIFY = 0x2
FAN_ATTRIB = 0x4
FAN_CLOSE_WRITE = 0x8
FAN_MOVED_FROM = 0x40
FAN_MOVED_TO = 0x80
FAN_CREATE = 0x100
FAN_DELETE = 0x200
FAN_DELETE_SELF = 0x400
FAN_MOVE_SELF = 0x800
FAN_Q_OVERFLOW = 0x4000
FAN_RENAME = 0x10000000
FAN_ONDIR = 0x40000000

# What the watcher marks a filesystem with. A filesystem mark reports every inode's events,
# so FAN_EVENT_ON_CHILD means nothing here, and a removed or moved directory is reported by
# its parent's FAN_DELETE or FAN_RENAME (the *_SELF events would double every unlink).
# FAN_RENAME (Linux 5.17) names both ends of a rename in one event; before it, the two
# halves come as FAN_MOVED_FROM and FAN_MOVED_TO with nothing to pair them by.
ENTRY_MASK = FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR
MARK_MASK = ENTRY_MASK | FAN_RENAME
MARK_MASK_BEFORE_RENAME = ENTRY_MASK | FAN_MOVED_FROM | FAN_MOVED_TO

# info record types
FAN_EVENT_INFO_TYPE_FID = 1
FAN_EVENT_INFO_TYPE_DFID_NAME = 2
FAN_EVENT_INFO_TYPE_DFID = 3
FAN_EVENT_INFO_TYPE_OLD_DFID_NAME = 10
FAN_EVENT_INFO_TYPE_NEW_DFID_NAME = 12
FANOTIFY_METADATA_VERSION = 3

AT_FDCWD = -100
MAX_HANDLE_SZ = 128

_libc = ctypes.CDLL(None, use_errno=True)
_init = _libc.fanotify_init
_init.argtypes = (ctypes.c_uint, ctypes.c_uint)
_init.restype = ctypes.c_int
_mark = _libc.fanotify_mark
_mark.argtypes = (ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p)
_mark.restype = ctypes.c_int
_name_to_handle = _libc.name_to_handle_at
_name_to_handle.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                            ctypes.POINTER(ctypes.c_int), ctypes.c_int)
_name_to_handle.restype = ctypes.c_int
# (mount fd, struct file_handle as bytes, flags) -> fd or -1: one call per directory
# the watcher has not named yet
open_by_handle = _libc.open_by_handle_at
open_by_handle.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
open_by_handle.restype = ctypes.c_int


class FanotifyUnavailable(Exception):
    """fanotify cannot watch this tree here; the text says why, for the log line."""


def last_errno() -> int:
    return ctypes.get_errno()


def _why(call: str, code: int, fstype: str) -> str:
    """A failed call's errno in the words a sysadmin acts on."""
    if code == errno.EPERM:
        needs = {"open_by_handle_at": "CAP_DAC_READ_SEARCH",
                 # unprivileged groups exist since Linux 5.13: a system call filter refused it
                 "fanotify_init": "CAP_SYS_ADMIN and a system call filter that allows it"}
        return (f"{call}: {os.strerror(code)} - needs {needs.get(call, 'CAP_SYS_ADMIN')} (as "
                "a service: the drop-in in inosync(8), WATCHING WITH FANOTIFY)")
    if code == errno.ENOSYS:
        return f"{call}: the kernel has no fanotify"
    if code == errno.EINVAL and call == "fanotify_init":
        return f"{call}: the kernel cannot report directory handles and names (Linux 5.9+)"
    if code == errno.ENODEV:
        return f"{call}: {fstype} has no filesystem id"
    if code == errno.EXDEV:
        return f"{call}: {fstype} is a subvolume or an idmapped mount, which fanotify refuses"
    if code in (errno.EOPNOTSUPP, errno.ENOTSUP):
        return f"{call}: {fstype} does not support file handles or filesystem marks"
    return f"{call}: {os.strerror(code)} on {fstype}"


def init_group() -> int:
    """A fanotify group reporting directory handles and names (FID mode), non-blocking."""
    fd = int(_init(INIT_FLAGS, os.O_RDONLY | os.O_LARGEFILE | os.O_CLOEXEC))
    if fd < 0:
        raise FanotifyUnavailable(_why("fanotify_init", last_errno(), ""))
    return fd


def mark_filesystem(fd: int, path: str, fstype: str) -> int:
    """Mark the whole filesystem holding `path`; return the mask that took (without
    FAN_RENAME on kernels before 5.17)."""
    raw = os.fsencode(path)
    for mask in (MARK_MASK, MARK_MASK_BEFORE_RENAME):
        if _mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, raw) == 0:
            return mask
        code = last_errno()
        if code != errno.EINVAL or mask != MARK_MASK:
            raise FanotifyUnavailable(_why("fanotify_mark", code, fstype))
    raise AssertionError("unreachable")


def unmark_filesystem(fd: int, path: str, mask: int) -> None:
    _mark(fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, os.fsencode(path))


def handle_of(path: str) -> bytes:
    """`path`'s struct file_handle as the kernel reports it in events (a symlink at the
    end of `path` is followed, as wpath's is)."""
    buffer = ctypes.create_string_buffer(8 + MAX_HANDLE_SZ)
    ctypes.c_uint.from_buffer(buffer).value = MAX_HANDLE_SZ
    mount_id = ctypes.c_int()
    if _name_to_handle(AT_FDCWD, os.fsencode(path), buffer, ctypes.byref(mount_id), 0x400) < 0:
        raise OSError(last_errno(), os.strerror(last_errno()), path)  # 0x400: AT_SYMLINK_FOLLOW
    size = int.from_bytes(buffer.raw[:4], sys.byteorder)
    return buffer.raw[:8 + size]


def open_handle(mount_fd: int, handle: bytes) -> int:
    """An O_PATH fd of the object `handle` names; OSError (ESTALE: it is gone)."""
    fd = int(open_by_handle(mount_fd, handle, os.O_PATH | os.O_CLOEXEC))
    if fd < 0:
        code = last_errno()
        raise OSError(code, os.strerror(code))
    return fd


def check_resolving(path: str, fstype: str) -> None:
    """Resolve `path`'s own handle once: it needs CAP_DAC_READ_SEARCH, which the watcher
    needs for every directory it names."""
    try:
        handle = handle_of(path)
    except OSError as error:
        raise FanotifyUnavailable(_why("name_to_handle_at", error.errno or 0, fstype)) \
            from None
    mount_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(open_handle(mount_fd, handle))
    except OSError as error:
        raise FanotifyUnavailable(_why("open_by_handle_at", error.errno or 0, fstype)) \
            from None
    finally:
        os.close(mount_fd)


def mount_of(path: str, table: bytes) -> Mount | None:
    """The mount `path` is on, from a mountinfo text (the last one mounted on the
    deepest mount point above it)."""
    best: Mount | None = None
    for mount in parse_mountinfo(table):
        if at_or_below(path, mount.point) and (best is None
                                               or len(mount.point) >= len(best.point)):
            best = mount
    return best


def describe(mount: Mount | None) -> str:
    """For messages: "tmpfs at /srv/www"."""
    return f"{mount.fstype} at {mount.point}" if mount is not None else "its filesystem"


def at_or_below(path: str, top: str) -> bool:
    """Absolute paths: is `path` `top` or below it?"""
    return path == top or path.startswith(top.rstrip("/") + "/")
