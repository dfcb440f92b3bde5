"""Talking to systemd: sd_notify (readiness, status, watchdog) and logging to the journal."""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
from types import ModuleType


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # development machines without python3-systemd
        return None


sd_daemon = _optional("systemd.daemon")
sd_journal = _optional("systemd.journal")

IDENTIFIER = "inosync"


class Notifier:
    """sd_notify messages; a no-op when not started by systemd (no NOTIFY_SOCKET)."""

    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._last_status = ""
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

    def send(self, *fields: str) -> None:
        if not self.enabled:
            return
        message = "\n".join(fields)
        if sd_daemon is not None:
            sd_daemon.notify(message)
            return
        address = os.environ["NOTIFY_SOCKET"]
        if address.startswith("@"):
            address = "\0" + address[1:]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), address)

    def status(self, text: str) -> None:
        """Send STATUS= only when it changed, so an idle daemon sends nothing."""
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def ready(self, status: str | None = None) -> None:
        if status is not None:
            self._last_status = status
            self.send("READY=1", f"STATUS={status}")
        else:
            self.send("READY=1")

    def reloading(self) -> None:
        self.send("RELOADING=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")


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
