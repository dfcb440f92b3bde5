"""What `inosync check` says about the backend that will watch the tree: the inotify
watch limit, and whether fanotify works here when it is asked for or would take over.

Apart from `backends` so that every command can be imported without inotify_simple (a
monitoring user runs `inosync status` with the system's Python alone).
"""

from __future__ import annotations

from inosync.rsync.excludes import ExcludeMatcher
from inosync.source.fanotify import FanotifyUnavailable
from inosync.source.fanotify_watcher import FanotifyWatcher
from inosync.source.watch_limit import watch_shortage


def fanotify_problem(wpath: str, excludes: ExcludeMatcher) -> str:
    """Why fanotify cannot watch `wpath` in this process ("" when it can)."""
    try:
        FanotifyWatcher(wpath, excludes).close()
    except FanotifyUnavailable as error:
        return str(error)
    return ""


def watcher_warning(wpath: str, excludes: ExcludeMatcher, choice: str) -> str:
    """For `inosync check`: what watching the tree will run into ("" when nothing)."""
    if choice == "fanotify":
        reason = fanotify_problem(wpath, excludes)
        if not reason:
            return ""
        shortage = watch_shortage(wpath, excludes)
        return (f"watcher: fanotify unavailable on {wpath} ({reason}): the daemon would watch "
                f"with inotify" + (f"; {shortage}" if shortage else ""))
    shortage = watch_shortage(wpath, excludes)
    if choice == "inotify" or not shortage:
        return shortage
    reason = fanotify_problem(wpath, excludes)
    if reason:
        return f"{shortage}; fanotify cannot take over either ({reason})"
    return (f"{shortage}; with watcher = \"auto\" the daemon watches with fanotify instead, "
            "which works here (as a service it needs the drop-in in inosync(8), WATCHING "
            "WITH FANOTIFY)")
