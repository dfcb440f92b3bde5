"""Talking to systemd: sd_notify (readiness, status, watchdog) and logging to the journal."""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from types import ModuleType


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # development machines without python3-systemd
        return None


sd_journal = _optional("systemd.journal")

IDENTIFIER = "inosync"


STATUS_MIN_INTERVAL = 0.5  # systemd only needs the latest STATUS: at most two a second
RETRY_SECONDS = 0.1  # how soon to retry a notification the receiver had no room for


class Notifier:
    """sd_notify messages that never block the main loop.

    sd_notify is a sendmsg on a datagram socket, and a receiver that reads slowly (PID 1
    busy) would make a blocking send wait, stalling every node. Here each message is sent
    without waiting. What cannot go now waits in order and goes at the next `flush()`:
    READY, RELOADING, STOPPING and WATCHDOG are never dropped, while a STATUS that cannot go
    is replaced by the newest one. STATUS goes out at most every STATUS_MIN_INTERVAL.
    A no-op when not started by systemd (no NOTIFY_SOCKET).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._address = _socket_address(os.environ.get("NOTIFY_SOCKET", ""))
        self.enabled = self._address is not None
        self._sock: socket.socket | None = None
        self._queue: list[str] = []  # messages that must go, in order
        self._status: str | None = None  # the newest STATUS not yet sent
        self._last_status = ""  # the newest STATUS handed to us
        self._status_sent_at = -STATUS_MIN_INTERVAL
        self._blocked_until = 0.0
        self.sent = 0
        self.watchdog_interval = self._watchdog_interval()

    @staticmethod
    def _watchdog_interval() -> float | None:
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 1e6 / 2  # ping at least every half interval
        except ValueError:
            return None

    # -- what the daemon says -------------------------------------------------------

    def status(self, text: str) -> None:
        """Send STATUS= only when it changed, so an idle daemon sends nothing."""
        if text != self._last_status:
            self._last_status = text
            self._status = text
            self.flush()

    def ready(self, status: str | None = None) -> None:
        if status is not None and status != self._last_status:
            self._last_status = status
            self._status = status
        self._must("READY=1")

    def reloading(self) -> None:
        self._must("RELOADING=1")

    def stopping(self) -> None:
        self._must("STOPPING=1")

    def watchdog(self) -> None:
        if "WATCHDOG=1" not in self._queue:  # one ping waiting is as good as two
            self._must("WATCHDOG=1")

    def _must(self, message: str) -> None:
        if not self.enabled:
            return
        self._queue.append(message)
        self.flush(force=True)

    # -- sending --------------------------------------------------------------------

    def deadline(self) -> float | None:
        """When flush() next has something to do, for the loop's timeout."""
        if not self.enabled or not (self._queue or self._status is not None):
            return None
        if self._queue:
            return self._blocked_until
        return max(self._blocked_until, self._status_sent_at + STATUS_MIN_INTERVAL)

    def flush(self, force: bool = False) -> None:
        """Send what is waiting, as far as the receiver takes it now."""
        if not self.enabled:
            self._status = None
            return
        now = self._clock()
        if now < self._blocked_until and not force:
            return
        while self._queue:
            message = self._queue[0]
            # A status waiting rides along with the message that must go.
            with_status = self._status is not None and message != "WATCHDOG=1"
            text = message + (f"\nSTATUS={self._status}" if with_status else "")
            if not self._send(text, now):
                return
            self._queue.pop(0)
            if with_status:
                self._status, self._status_sent_at = None, now
        if self._status is not None and now >= self._status_sent_at + STATUS_MIN_INTERVAL:
            if self._send(f"STATUS={self._status}", now):
                self._status, self._status_sent_at = None, now

    def _send(self, text: str, now: float) -> bool:
        assert self._address is not None
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                                           | socket.SOCK_NONBLOCK)
            self._sock.sendto(text.encode("utf-8", "surrogateescape"), self._address)
        except (BlockingIOError, InterruptedError):
            self._blocked_until = now + RETRY_SECONDS  # no room now: keep it, retry soon
            return False
        except OSError:
            # No receiver (yet, or any more): keep the message and try again a bit later.
            self._blocked_until = now + RETRY_SECONDS * 10
            return False
        self._blocked_until = 0.0
        self.sent += 1
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _socket_address(value: str) -> str | bytes | None:
    """NOTIFY_SOCKET as an address for sendto: a path, or "@name" for the abstract space."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock and other kinds are not spoken here


def under_journal() -> bool:
    """Is stderr connected to journald (systemd sets JOURNAL_STREAM to its dev:inode)?"""
    stream = os.environ.get("JOURNAL_STREAM", "")
    if not stream or sd_journal is None:
        return False
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


def setup_logging(level: str) -> None:
    """Journal with structured fields under systemd, readable lines on stderr otherwise."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if under_journal():
        assert sd_journal is not None
        root.addHandler(sd_journal.JournalHandler(SYSLOG_IDENTIFIER=IDENTIFIER))
    else:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(stream)
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(getattr(logging, level.upper(), logging.INFO))
