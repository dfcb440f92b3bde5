"""Real servers on loopback for the nodes: an OpenSSH sshd and an rsync daemon."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
RRSYNC = "/usr/bin/rrsync"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    """Wait until 127.0.0.1:port accepts a connection."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")
        time.sleep(0.02)


def descendants(pid: int) -> list[int]:
    """All live descendants of pid (children first found by walking /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data.rsplit(b")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop a server we started and every process it forked (its sessions too), by PID."""
    if proc.poll() is not None:
        return
    pids = descendants(proc.pid)
    for p in [proc.pid, *pids]:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + timeout
    for p in pids:
        while time.monotonic() < deadline and os.path.exists(f"/proc/{p}"):
            time.sleep(0.01)
        if os.path.exists(f"/proc/{p}"):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


@dataclass
class Sshd:
    """A real sshd on 127.0.0.1 with keys made in `home`.

    `binds` maps a directory on the test host to the directory that ssh sessions see in its
    place: the sshd runs in a private mount namespace where each target is bind-mounted over
    its key. That makes an ssh node to 127.0.0.1 a distinct machine for the same rpath.

    `rrsync` (a directory) forces the client key through the real rrsync confined to it,
    as `command="rrsync DIR",restrict` in authorized_keys does on a locked-down node;
    `rrsync_options` go before the directory (e.g. "-no-lock").
    """

    home: Path
    port: int = 0
    binds: dict[str, str] = field(default_factory=dict)
    rrsync: str = ""
    rrsync_options: str = ""
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.host_key = self.home / "ssh_host_ed25519_key"
        self.client_key = self.home / "id_ed25519"
        self.config = self.home / "sshd_config"
        self.log = self.home / "sshd.log"
        for key in (self.host_key, self.client_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                               check=True)
        key_line = (self.home / "id_ed25519.pub").read_bytes()
        if self.rrsync:
            forced = " ".join(filter(None, [RRSYNC, self.rrsync_options,
                                            shlex.quote(self.rrsync)]))
            key_line = f'command="{forced}",restrict '.encode() + key_line
        (self.home / "authorized_keys").write_bytes(key_line)
        self.config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.home / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.home / 'authorized_keys'}\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "MaxStartups 100:30:200\n"
            "MaxSessions 100\n"
            "LogLevel VERBOSE\n"
            "Subsystem sftp internal-sftp\n"
        )

    @property
    def rnode(self) -> str:
        return "root@127.0.0.1:"

    @property
    def rsh(self) -> str:
        return (f"ssh -p {self.port} -i {self.client_key} -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start (or restart, on the same port) and wait until the port accepts."""
        assert not self.running
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        argv = [SSHD, "-D", "-e", "-f", str(self.config)]
        if self.binds:
            mounts = " && ".join(
                f"mount --bind {_sh(target)} {_sh(over)}" for over, target in self.binds.items())
            script = f"mount --make-rprivate / && {mounts} && exec " + " ".join(map(_sh, argv))
            argv = ["unshare", "--mount", "sh", "-c", script]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        wait_port(self.port, timeout, self.proc, self.log)

    def stop(self) -> None:
        """Take the node down: the listener and every live session, so connections drop."""
        if self.proc is not None:
            kill_tree(self.proc)

    def ssh_argv(self, *command: str) -> list[str]:
        return [*self.rsh.split(), "root@127.0.0.1", *command]


def _sh(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


@dataclass
class Rsyncd:
    """`rsync --daemon` on 127.0.0.1 with one writable module `mirror` at home/module."""

    home: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.module_path = self.home / "module"
        self.module_path.mkdir(exist_ok=True)
        self.config = self.home / "rsyncd.conf"
        self.log = self.home / "rsyncd.log"
        self.config.write_text(
            f"pid file = {self.home / 'rsyncd.pid'}\n"
            f"log file = {self.log}\n"
            "max connections = 0\n"
            "[mirror]\n"
            f"    path = {self.module_path}\n"
            "    read only = false\n"
            "    use chroot = true\n"  # without a chroot rsyncd sanitizes symlinks (../x -> x)
            "    munge symlinks = false\n"
            "    uid = root\n"
            "    gid = root\n"
        )

    @property
    def rnode(self) -> str:
        return f"rsync://127.0.0.1:{self.port}/mirror"

    def start(self, timeout: float = 10.0) -> None:
        argv = ["rsync", "--daemon", "--no-detach", f"--config={self.config}",
                f"--port={self.port}", "--address=127.0.0.1"]
        with open(self.home / "rsyncd.out", "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)
        wait_port(self.port, timeout, self.proc, self.home / "rsyncd.out")

    def stop(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc)
