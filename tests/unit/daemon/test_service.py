"""What the notifier tells systemd, and when: pings, start timeout extensions, READY.

The cadence is a pure function; the notifier is driven by a fake clock and heard on a real
datagram socket in a temporary directory (milliseconds, no daemon).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from inosync.daemon.service import EXTEND_EVERY, Notifier, keepalive_cadence


@pytest.mark.parametrize("watchdog_interval, expected", [
    (None, (EXTEND_EVERY, 3 * EXTEND_EVERY)),  # no watchdog: every 10 s, for 30 s
    (15.0, (15.0, 30.0)),  # WatchdogSec=30s: with each ping, for the watchdog's 30 s
    (0.5, (0.5, 1.0)),
])
def test_each_extension_outlasts_the_interval_at_which_they_are_sent(
        watchdog_interval: float | None, expected: tuple[float, float]) -> None:
    every, extend_by = keepalive_cadence(watchdog_interval)
    assert (every, extend_by) == expected
    assert extend_by >= 2 * every  # one late message is no harm


class Listener:
    """The systemd end of NOTIFY_SOCKET: what has arrived since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)

    def heard(self) -> list[str]:
        lines: list[str] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return lines
            lines += [line for line in data.decode().split("\n")
                      if not line.startswith("STATUS=")]


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    heard = Listener(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", heard.path)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    try:
        yield heard
    finally:
        heard.sock.close()


PING, READY, RELOADING, STOPPING = "WATCHDOG=1", "READY=1", "RELOADING=1", "STOPPING=1"
EXTEND_30S = "EXTEND_TIMEOUT_USEC=30000000"

# (what the daemon does, at what time, what systemd hears), with WatchdogSec=30s.
WITH_WATCHDOG = [
    ("alive", 0.0, [PING, EXTEND_30S]),  # first thing at start: systemd's timer runs
    ("alive", 10.0, []),  # not due yet
    ("alive", 15.0, [PING, EXTEND_30S]),
    ("ready", 20.0, [READY]),
    ("alive", 30.0, [PING]),  # running: an extension would put off the watchdog
    ("reloading", 31.0, [RELOADING]),
    ("alive", 31.0, [PING, EXTEND_30S]),  # at once: the reload's timer runs from now
    ("alive", 46.0, [PING, EXTEND_30S]),
    ("ready", 47.0, [READY]),
    ("stopping", 50.0, [STOPPING]),
    ("alive", 61.0, [PING]),  # stopping is bounded by the daemon's own grace
]
WITHOUT_WATCHDOG = [
    ("alive", 0.0, [EXTEND_30S]),
    ("alive", 9.0, []),
    ("alive", 10.0, [EXTEND_30S]),
    ("ready", 12.0, [READY]),
    ("alive", 20.0, []),
]


@pytest.mark.parametrize("watchdog_usec, steps", [
    ("30000000", WITH_WATCHDOG),
    (None, WITHOUT_WATCHDOG),
])
def test_extensions_go_only_while_systemd_waits_for_ready(
        listener: Listener, monkeypatch: pytest.MonkeyPatch, watchdog_usec: str | None,
        steps: list[tuple[str, float, list[str]]]) -> None:
    if watchdog_usec is None:
        monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_USEC", watchdog_usec)
    clock = [0.0]
    notifier = Notifier(clock=lambda: clock[0])
    for action, now, expected in steps:
        clock[0] = now
        if action == "alive":
            notifier.alive(now)
        else:
            getattr(notifier, action)()
        assert (action, now, listener.heard()) == (action, now, expected)
    if watchdog_usec is None:
        assert notifier.alive_deadline() is None  # running, no watchdog: nothing to pace
    notifier.close()


def test_an_extension_waiting_for_room_is_replaced_by_the_newer_one(
        listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    # A receiver that stopped reading: its queue is full. One sender's buffer can fill
    # before the queue does (net.unix.max_dgram_qlen is 512 where systemd is PID 1, 10 by
    # the kernel's default), so senders are added until a fresh one cannot send at all.
    sent = -1
    while sent != 0:
        filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        filler.setblocking(False)
        sent = 0
        try:
            while True:
                filler.sendto(b"FILLER=1", listener.path)
                sent += 1
        except BlockingIOError:
            filler.close()
    clock = [0.0]
    notifier = Notifier(clock=lambda: clock[0])
    notifier.extend_timeout(5.0)
    notifier.extend_timeout(7.0)
    notifier.ready()
    assert notifier.deadline() is not None  # both still waiting
    heard = [line for line in listener.heard() if line != "FILLER=1"]
    assert heard == []
    clock[0] = 1.0
    notifier.flush()
    assert listener.heard() == ["EXTEND_TIMEOUT_USEC=7000000", READY]
    notifier.close()
