"""Renames on an ssh node whose key is forced into rrsync, against the same node unrestricted.

    python3 bench/restricted.py [--repeat 3] [--dir-mb 200 --dir-files 2000] [--file-mb 100]

Behind rrsync no shell runs on the node, so inosync rebuilds a renamed directory with
`--copy-dest` from its old copy (copied on the node, never linked) and sends a moved
file against the old one (`--fuzzy`, `--copy-dest`) before the batch deletes the old
place. This measures what that costs over
loopback ssh: a directory of `--dir-files` files / `--dir-mb` MB renamed, and one
`--file-mb` MB file moved to another directory. Seconds run from the end of the `mv` until
the node has every file at its new place (sizes) and none at the old one; bytes are what
crossed the wire both ways (a counting proxy in front of the node's sshd, ssh overhead
included). Run as root; it starts its own sshd on a free port and ends it by PID.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lib import byteproxy
from lib.sshd import SSHD, free_port

REPO = Path(__file__).resolve().parents[1]
RRSYNC = "/usr/bin/rrsync"


class Node:
    """A private sshd (behind a byte-counting proxy) whose key may be forced into rrsync."""

    def __init__(self, home: Path, rpath: Path, restricted: bool) -> None:
        self.home, self.rpath, self.restricted = home, rpath, restricted
        self.procs: list[subprocess.Popen[bytes]] = []
        home.mkdir(parents=True)
        rpath.mkdir(parents=True)
        for key in ("host", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            str(home / key)], check=True)
        line = (home / "client.pub").read_text()
        if restricted:
            line = f'command="{RRSYNC} {rpath}",restrict {line}'
        (home / "authorized_keys").write_text(line)
        port = free_port()
        (home / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host'}\n"
            f"PidFile {home / 'sshd.pid'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
            "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nLogLevel ERROR\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        with open(home / "sshd.log", "wb") as log:  # not the terminal: it notes every probe
            self.procs.append(subprocess.Popen([SSHD, "-D", "-e", "-f",
                                                str(home / "sshd_config")], stderr=log))
        self.counters = home / "proxy.counters"
        proxy = subprocess.Popen([sys.executable, byteproxy.__file__,
                                  str(port), str(self.counters)], stdout=subprocess.PIPE)
        self.procs.append(proxy)
        assert proxy.stdout is not None
        self.port = int(proxy.stdout.readline())
        _wait_port(port)

    @property
    def rsh(self) -> str:
        return (f"ssh -p {self.port} -i {self.home / 'client'} -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes")

    def wire_bytes(self) -> int:
        up, down = byteproxy.read_counters(str(self.counters))
        return up + down

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(5)


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"sshd on port {port} did not start")


class Inosync:
    """`python3 -m inosync` on a config, with a notify socket to wait for READY=1."""

    def __init__(self, work: Path, src: Path, node: Node) -> None:
        self.config = work / "inosync.toml"
        self.config.write_text(f'wpath = "{src}"\nrpath = "{node.rpath}"\n'
                               f'rnodes = ["root@127.0.0.1:"]\nrsh = "{node.rsh}"\n'
                               'log_level = "debug"\n')
        self.log = work / "inosync.log"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock_path = tempfile.mktemp(prefix="inosync-bench-", dir="/tmp")
        self.sock.bind(sock_path)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path, PYTHONPATH=str(REPO))
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "inosync", "-c",
                                          str(self.config)], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.sock_path = sock_path

    def wait_ready(self, timeout: float = 600.0) -> None:
        self.sock.settimeout(timeout)
        while b"READY=1" not in self.sock.recv(65536):
            pass

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.sock.close()
        os.unlink(self.sock_path)


def write_files(top: Path, count: int, total: int, dirs: int = 20) -> list[str]:
    rels = []
    for index in range(count):
        rel = f"d{index % dirs}/f{index}"
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(total // count))
        rels.append(rel)
    return rels


def wait_moved(rpath: Path, old: Path, new_files: dict[Path, int], timeout: float) -> float:
    """Seconds until every new file has its size on the node and the old place is gone."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not old.exists() and all(
                p.exists() and p.stat().st_size == size for p, size in new_files.items()):
            return time.monotonic() - started
        time.sleep(0.002)
    raise RuntimeError(f"the node under {rpath} did not follow within {timeout} s")


def measure(work: Path, restricted: bool, dir_mb: int, dir_files: int,
            file_mb: int) -> dict[str, tuple[float, int]]:
    src, rpath = work / "src", work / "node"
    write_files(src / "base", 1000, 1000 * 1024, dirs=100)
    big = write_files(src / "big", dir_files, dir_mb << 20)
    (src / "a").mkdir()
    (src / "b").mkdir()
    (src / "a/huge.bin").write_bytes(os.urandom(file_mb << 20))
    node = Node(work / "sshd", rpath, restricted)
    daemon = Inosync(work, src, node)
    results = {}
    try:
        daemon.wait_ready()
        size = (dir_mb << 20) // dir_files
        before = node.wire_bytes()
        os.rename(src / "big", src / "big-renamed")
        took = wait_moved(rpath, rpath / "big",
                          {rpath / "big-renamed" / rel: size for rel in big}, 120)
        time.sleep(0.5)  # let the batch's statistics settle before reading the counter
        results["dir"] = (took, node.wire_bytes() - before)
        before = node.wire_bytes()
        os.rename(src / "a/huge.bin", src / "b/huge.bin")
        took = wait_moved(rpath, rpath / "a/huge.bin", {rpath / "b/huge.bin": file_mb << 20},
                          120)
        time.sleep(0.5)
        results["file"] = (took, node.wire_bytes() - before)
        log = daemon.log.read_text(errors="replace")
        if restricted and "restricted by rrsync" not in log:
            raise RuntimeError(f"inosync did not notice rrsync; see {daemon.log}")
    finally:
        daemon.stop()
        node.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir-mb", type=int, default=200)
    parser.add_argument("--dir-files", type=int, default=2000)
    parser.add_argument("--file-mb", type=int, default=100)
    parser.add_argument("--kinds", default="restricted,ssh")
    parser.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    options = parser.parse_args()
    print(f"| node | {options.dir_mb} MB dir rename: s, bytes | "
          f"{options.file_mb} MB file moved: s, bytes |")
    print("| --- | --- | --- |")
    for kind in options.kinds.split(","):
        runs = []
        for _ in range(options.repeat):
            work = Path(tempfile.mkdtemp(prefix="inosync-rrsync-", dir=options.tmp))
            try:
                runs.append(measure(work, kind == "restricted", options.dir_mb,
                                    options.dir_files, options.file_mb))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        cells = []
        for what, total in (("dir", options.dir_mb << 20), ("file", options.file_mb << 20)):
            seconds = statistics.median(r[what][0] for r in runs)
            sent = statistics.median(r[what][1] for r in runs)
            cells.append(f"{seconds:.2f} s, {sent:,.0f} bytes ({100 * sent / total:.2f} %)")
        print(f"| {kind} (median of {len(runs)}) | {cells[0]} | {cells[1]} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
