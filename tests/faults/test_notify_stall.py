"""systemd's notify socket never stalls the daemon, and no signal at any moment kills it."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from helpers import TreeMutator
from helpers.daemon import Daemon, inosync_argv, inosync_env, write_config
from helpers.tree import wait_converged

from faults.support import wait_for

CODE = Path(__file__).resolve().parents[2]


class UnreadSocket:
    """A NOTIFY_SOCKET whose receive queue is full before the daemon starts, like a
    supervisor that stopped reading. `drain()` starts reading it, slowly."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="inosync-stall-", dir="/tmp")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[str] = []
        filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        filler.setblocking(False)
        self.filled = 0
        try:
            while self.filled < 100_000:
                filler.sendto(b"FILLER=1", self.path)
                self.filled += 1
        except BlockingIOError:
            pass
        filler.close()
        self._reader: threading.Thread | None = None
        self._closing = False

    def drain(self) -> None:
        def read() -> None:
            self.sock.settimeout(0.2)
            while not self._closing:
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                self.messages += [m for m in data.decode().split("\n")
                                  if m and m != "FILLER=1"]
                time.sleep(0.02)  # a slow reader

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def close(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.join(2)
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


def start(tmp_path: Path, cfg: Path, notify: str) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "inosync.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(inosync_argv("-c", str(cfg), "-v"),
                            env=inosync_env({"NOTIFY_SOCKET": notify}), cwd=CODE,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def test_a_notify_socket_that_is_never_read_stalls_nothing(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""])
    notify = UnreadSocket()
    assert notify.filled > 0
    proc = start(tmp_path, cfg, notify.path)
    log = tmp_path / "inosync.log"
    try:
        wait_for(lambda: "full sync done" in log.read_text(), 20, "the initial sync")
        for index in range(3000):
            (src / f"d{index % 30}").mkdir(exist_ok=True)
            (src / f"d{index % 30}" / f"f{index}").write_text(str(index))
        wait_converged(src, dst, 30, what="3,000 writes with systemd not reading")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in log.read_text(), 10, "the reload")
        (src / "after-reload").write_text("x")
        wait_converged(src, dst, 10, what="a write after the reload")
        notify.drain()  # the reader wakes up: what had to go, goes, in order
        wait_for(lambda: notify.messages.count("READY=1") >= 2, 10, "READY=1 twice")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        wait_for(lambda: "STOPPING=1" in notify.messages, 5, "STOPPING=1")
        order = [m for m in notify.messages
                 if not m.startswith(("STATUS=", "WATCHDOG", "EXTEND_TIMEOUT_USEC="))]
        assert order == ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], order
        waiting = True  # extensions only while systemd waits for a READY=1
        for message in notify.messages:
            if message in ("READY=1", "RELOADING=1"):
                waiting = message == "RELOADING=1"
            assert waiting or not message.startswith("EXTEND_TIMEOUT_USEC="), notify.messages
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()


def test_status_goes_out_at_most_about_twice_a_second(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""])
    daemon = Daemon(tmp_path, cfg).start()
    try:
        daemon.wait_ready()
        begin = time.monotonic()
        for index in range(4000):
            (src / f"f{index}").write_text(str(index))
            if index % 200 == 0:
                time.sleep(0.05)  # a busy tree for a few seconds, not one instant
        wait_converged(src, dst, 30, what="the burst")
        daemon.wait_in_sync(10)
        times = [t for t, m in daemon.messages if m.startswith("STATUS=") and t >= begin]
        assert len(times) >= 2
        busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
        assert busiest <= 3, f"{busiest} STATUS messages within one second"
    finally:
        daemon.stop()
        daemon.close()


@pytest.mark.slow
def test_signals_at_random_moments_never_kill_the_daemon_badly(tmp_path: Path) -> None:
    """SIGHUP and SIGTERM at random moments of random operations, start-up included:
    each run ends with exit status 0 and no traceback, and the last one converges."""
    seed = random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                       max_delete_share=1.0)
    mutator = TreeMutator(src, tmp_path / "outside", rng)
    mutator.run(30)
    log = tmp_path / "inosync.log"
    for run in range(6):
        daemon = Daemon(tmp_path, cfg).start()
        try:
            # From the moment it says it starts (before it reads the config), never earlier:
            # in the interpreter's own start-up a signal still has its default action.
            daemon.wait_log(lambda text: text.count("starting") > run, 10,  # noqa: B023
                            "the start")
            for _ in range(rng.randrange(1, 5)):
                time.sleep(rng.uniform(0, 0.3))
                mutator.run(rng.randrange(1, 30))
                daemon.signal(signal.SIGHUP)
            time.sleep(rng.uniform(0, 0.2))
            if run == 5:
                daemon.wait_ready()
                wait_converged(src, dst, 30, what=f"seed {seed}: the last run",
                               alive=daemon.assert_alive)
            daemon.signal(signal.SIGTERM)
            assert daemon.proc is not None
            code = daemon.proc.wait(15)
            assert code == 0, f"seed {seed}: run {run} exited with {code}\n{daemon.log_tail()}"
        finally:
            daemon.close()
    assert "Traceback" not in log.read_text(), f"seed {seed}"
