"""A private sshd on 127.0.0.1 for the ssh node, with a byte-counting proxy in front.

Why a private one: the benchmark must run on a fresh machine without touching the system's
sshd, its keys or root's authorized_keys. Everything (host key, client key, config, pid file)
lives in a temp dir; the daemon runs in the foreground and is ended by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lib import byteproxy

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    """A port that was free a moment ago (sshd start is retried if it was taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass(frozen=True)
class SshEndpoint:
    """What a tool needs to reach the ssh node: port (the proxy's), key, and ssh options."""

    port: int
    key: Path
    counter_file: Path

    @property
    def options(self) -> list[str]:
        return [
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes",
        ]

    def rsh(self, ssh: str = "ssh") -> str:
        """The remote shell string for rsync -e / inosync's rsh (no shell metacharacters)."""
        return " ".join([ssh, "-p", str(self.port), "-i", str(self.key), *self.options])

    def bytes_total(self) -> int:
        """Bytes forwarded both ways through the proxy since it started."""
        up, down = byteproxy.read_counters(str(self.counter_file))
        return up + down


class LoopbackSshd:
    """Start sshd + proxy in a temp dir; `with LoopbackSshd(tmp) as ep:` yields an SshEndpoint."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.sshd: subprocess.Popen[bytes] | None = None
        self.proxy: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SshEndpoint:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self) -> SshEndpoint:
        self.dir.mkdir(parents=True, exist_ok=True)
        # sshd refuses to start without its privilege separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        host_key, client_key = self.dir / "host_ed25519", self.dir / "client_ed25519"
        for key in (host_key, client_key):
            if not key.exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "inosync-bench",
                     "-f", str(key)],
                    check=True,
                )
        shutil.copyfile(client_key.with_suffix(".pub"), self.dir / "authorized_keys")
        port = self._start_sshd(host_key)
        counter = self.dir / "proxy.counters"
        self.proxy = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("byteproxy.py")), str(port),
             str(counter)],
            stdout=subprocess.PIPE,
        )
        assert self.proxy.stdout is not None
        proxy_port = int(self.proxy.stdout.readline())
        endpoint = SshEndpoint(port=proxy_port, key=client_key, counter_file=counter)
        probe = subprocess.run(
            ["ssh", "-p", str(proxy_port), "-i", str(client_key), *endpoint.options,
             "root@127.0.0.1", "rsync --version >/dev/null && echo ok"],
            capture_output=True, timeout=30,
        )
        if probe.stdout.strip() != b"ok":
            why = probe.stderr.decode(errors="replace")
            raise RuntimeError(f"loopback sshd probe failed: {why}")
        return endpoint

    def _start_sshd(self, host_key: Path) -> int:
        for _attempt in range(5):
            port = free_port()
            config = self.dir / "sshd_config"
            config.write_text(
                "\n".join([
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    # lsyncd opens one connection per move; keep sshd from throttling it.
                    "MaxStartups 200",
                    "MaxSessions 200",
                    "LogLevel ERROR",
                    "",
                ])
            )
            log = open(self.dir / "sshd.log", "ab")  # noqa: SIM115 - closed right after Popen
            self.sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log)
            log.close()
            if _wait_port(port, time.monotonic() + 10):
                return port
            self._end(self.sshd)
            self.sshd = None
        raise RuntimeError(f"sshd did not start; see {self.dir / 'sshd.log'}")

    @staticmethod
    def _end(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        """End the proxy and sshd by their PIDs (never by name)."""
        self._end(self.proxy)
        self._end(self.sshd)
        if self.proxy is not None and self.proxy.stdout is not None:
            self.proxy.stdout.close()
