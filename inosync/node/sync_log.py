"""The journal line of a finished sync and the name of a failure (pure): what a sysadmin
greps for, with the INOSYNC_* fields a log pipeline keys on."""

from __future__ import annotations

from typing import Any


def done_line(name: str, *, full: bool, paths: int, refused: int | None, renames: int,
              seconds: float, sent: int | None, code: int) -> tuple[str, dict[str, Any]]:
    """`refused`: deletions a full sync refused, None when it made them."""
    what = f"synced {paths} paths"
    if full and refused is not None:
        what = f"full sync done, {refused} deletions refused"
    elif full:
        what = "full sync done"
    if renames:
        what += f" after replaying {renames} renames"
    message = (f"{name}: {what} in {int(seconds * 1000)} ms, "
               f"{sent if sent is not None else '?'} bytes sent")
    return message, {"INOSYNC_NODE": name, "INOSYNC_PATHS": "all" if full else paths,
                     "INOSYNC_RSYNC_EXIT": code, "INOSYNC_DURATION_MS": int(seconds * 1000),
                     "INOSYNC_BYTES": sent if sent is not None else -1,
                     "INOSYNC_FULL": int(full)}


def problem(code: int, meaning: str, stderr: bytes) -> str:
    """A failure as STATUS and the journal name it."""
    return meaning if code == 127 and not stderr else f"rsync exit {code} ({meaning})"


def tail(stderr: bytes, limit: int = 400) -> str:
    """The end of what a child said, on one line."""
    text = stderr.decode("utf-8", "backslashreplace").strip().replace("\n", " | ")
    return text[-limit:] if text else "(no message)"
