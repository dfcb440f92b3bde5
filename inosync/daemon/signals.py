"""SIGTERM, SIGINT and SIGHUP as flags: the handlers only record, the loop does the work."""

from __future__ import annotations

import signal
from dataclasses import dataclass


@dataclass
class SignalFlags:
    """What signal handlers record; they do nothing else, the loop does the work."""

    stop: int = 0
    reload: bool = False


SIGNALS = SignalFlags()


def _on_stop(signum: int, frame: object) -> None:
    SIGNALS.stop += 1


def _on_reload(signum: int, frame: object) -> None:
    SIGNALS.reload = True


def install_signal_flags() -> None:
    """Catch SIGTERM, SIGINT and SIGHUP as flags, as early as possible: a signal at any
    moment, even while the config is read, is then handled by the loop, never a traceback."""
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    signal.signal(signal.SIGHUP, _on_reload)
