"""Shared by the fault tests: polling with a deadline, never a fixed wait, and a daemon
that is always stopped when the test is done with it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import Daemon


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)  # a poll interval inside a deadline, not a wait for an event
    pytest.fail(f"timed out waiting for {what}")


def notes(daemon: Daemon) -> list[str]:
    """Everything the daemon sent on NOTIFY_SOCKET, in order."""
    return [message for _, message in daemon.messages]


def wait_ready(daemon: Daemon, timeout: float = 20) -> None:
    wait_for(lambda: "READY=1" in notes(daemon), timeout, "READY=1")


@contextmanager
def running(workdir: Path, config: Path, env: dict[str, str] | None = None,
            prefix: Sequence[str] = ()) -> Iterator[Daemon]:
    """`python3 -m inosync -c config` for the block; stopped and cleaned up after it."""
    daemon = Daemon(workdir, config, env=env, prefix=prefix).start()
    try:
        yield daemon
    finally:
        daemon.stop(check=False)
        daemon.close()


def local_mirror(top: Path, **keys: object) -> tuple[Path, Path, Path]:
    """An empty source `top/src`, a local node `top/dst` and the config joining them."""
    from helpers.daemon import write_config

    src, dst = top / "src", top / "dst"
    src.mkdir()
    config = write_config(top / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""], **keys)
    return src, dst, config


@contextmanager
def open_world(prefix: str) -> Iterator[Path]:
    """A 0755 directory under /tmp that users without privileges can walk (pytest's own
    tmp dirs are root-only); removed after the block, whatever modes were left inside."""
    import os
    import shutil
    import tempfile

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run without privileges")
    top = Path(tempfile.mkdtemp(prefix=prefix))
    top.chmod(0o755)
    try:
        yield top
    finally:
        for path, dirs, _ in os.walk(top):
            for name in dirs:
                os.chmod(os.path.join(path, name), 0o755)
        shutil.rmtree(top)
