"""Talking to systemd: sd_notify (readiness, status, watchdog, more time to start) and
logging to the journal."""

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
# While systemd waits for READY=1 its start timeout runs (TimeoutStartSec=, 90 s by default),
# and a big tree's walk and first full sync take longer. Without a watchdog the daemon asks
# for more time every EXTEND_EVERY seconds, each time for three times as long.
EXTEND_EVERY = 10.0
EXTEND = "EXTEND_TIMEOUT_USEC="


def keepalive_cadence(watchdog_interval: float | None) -> tuple[float, float]:
    """How often a live loop tells systemd so while it starts, and how many seconds of start
    timeout each extension asks for (from when systemd reads it).

    With a watchdog, extensions ride with the pings (every half watchdog interval) and ask
    for one whole watchdog interval: a start that stops making progress is ended as soon as
    a hung loop would be. Either way one extension may come late without harm.
    """
    if watchdog_interval:
        return watchdog_interval, 2 * watchdog_interval
    return EXTEND_EVERY, 3 * EXTEND_EVERY


class Notifier:
    """sd_notify messages that never block the main loop.

    sd_notify is a sendmsg on a datagram socket, and a receiver that reads slowly (PID 1
    busy) would make a blocking send wait, stalling every node. Here each message is sent
    without waiting. What cannot go now waits in order and goes at the next `flush()`:
    READY, RELOADING, STOPPING and WATCHDOG are never dropped, while a STATUS that cannot go
    is replaced by the newest one. STATUS goes out at most every STATUS_MIN_INTERVAL, and an
    EXTEND_TIMEOUT_USEC waiting is replaced by a newer one.
    `alive()` paces the watchdog pings and, while systemd waits for READY=1 (start-up, and
    a reload from RELOADING=1 on), the extensions of its timeout.
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
        # systemd waits for READY=1 with a timeout running: from the start until READY, and
        # from RELOADING=1 until the next READY (not while stopping: STOPPING ends it).
        self.waiting = self.enabled
        self._alive_at = 0.0  # when alive() next pings or extends

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
        self.waiting = False
        self._must("READY=1")

    def reloading(self) -> None:
        self.waiting = True
        self._alive_at = 0.0  # ask for time at the next alive(), not an interval later
        self._must("RELOADING=1")

    def stopping(self) -> None:
        self.waiting = False  # the stop is bounded by its own grace, within TimeoutStopSec=
        self._must("STOPPING=1")

    def watchdog(self) -> None:
        if "WATCHDOG=1" not in self._queue:  # one ping waiting is as good as two
            self._must("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> None:
        """EXTEND_TIMEOUT_USEC=: systemd's running start, reload or stop timeout ends no
        sooner than `seconds` after it reads this. It also puts off the watchdog, so it is
        only sent while systemd waits (`waiting`); see `alive()`."""
        self._queue = [m for m in self._queue if not m.startswith(EXTEND)]  # newest wins
        self._must(f"{EXTEND}{round(seconds * 1_000_000)}")

    def alive(self, now: float) -> None:
        """The loop (or a long walk) is making progress: ping the watchdog and, while
        systemd waits for READY=1, ask for more time to start; each only when due."""
        if not self.enabled or now < self._alive_at:
            return
        every, extend_by = keepalive_cadence(self.watchdog_interval)
        self._alive_at = now + every
        if self.watchdog_interval:
            self.watchdog()
        if self.waiting:
            self.extend_timeout(extend_by)

    def alive_deadline(self) -> float | None:
        """When alive() is next due, for the loop's timeout (None: nothing to pace)."""
        if not self.enabled or not (self.watchdog_interval or self.waiting):
            return None
        return self._alive_at

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
