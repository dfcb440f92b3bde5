"""The inotify interface: the masks inosync watches with, and inotify_add_watch called
straight from libc.

The start-up walk adds one watch per directory, and a million calls through
inotify_simple's generic wrapper cost seconds; fixed argument types make each call cheap.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

try:
    import inotify_simple
except ImportError:  # the .deb ships a private copy
    sys.path.append("/usr/lib/inosync/vendor")
    import inotify_simple

INotify = inotify_simple.INotify
parse_events = inotify_simple.parse_events
F = inotify_simple.flags
WATCH_MASK = (F.CREATE | F.DELETE | F.MODIFY | F.CLOSE_WRITE | F.ATTRIB | F.MOVED_FROM
              | F.MOVED_TO | F.DELETE_SELF | F.MOVE_SELF | F.ONLYDIR | F.DONT_FOLLOW
              | F.EXCL_UNLINK)
# wpath itself may be a symlink to the tree (a deploy's "current" link): followed there only
ROOT_MASK = WATCH_MASK & ~F.DONT_FOLLOW
CHANGE_MASK = F.CREATE | F.DELETE | F.MODIFY | F.CLOSE_WRITE | F.ATTRIB

FS_ENCODING = sys.getfilesystemencoding()
# (fd, path as bytes, mask) -> wd or -1: the walk's hot loop calls it directly
libc_add_watch = ctypes.CDLL(None, use_errno=True).inotify_add_watch
libc_add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
libc_add_watch.restype = ctypes.c_int


def add_watch(fd: int, path: str, mask: int = WATCH_MASK) -> int:
    """The watch descriptor, or -1 with the reason in `last_errno()`."""
    return int(libc_add_watch(fd, path.encode(FS_ENCODING, "surrogateescape"), mask))


def last_errno() -> int:
    return ctypes.get_errno()


def is_directory(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
