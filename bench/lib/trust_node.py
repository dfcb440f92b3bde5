"""The ssh node's side for the trust benchmark: its CPU, going down and coming back, and a
count of the connection attempts it sees while down.

Why connection attempts are counted on the wire: a port nobody listens on answers a SYN with
a reset, so there is nothing to accept and count; and listening on the port to count would
answer the connects, so the daemon's probe would take the node for up. A packet socket on
the loopback interface with a filter for SYNs to the port counts them without answering.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import struct
import subprocess
import threading
import time

from lib.meters import CpuMeter
from lib.sshd import SSHD, LoopbackSshd

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26


def _syn_filter(port: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF: IPv4, TCP, first fragment, to `port`, SYN set and ACK clear."""
    return [
        (0x28, 0, 0, 12),        # ldh [12]: ethertype (lo has an all-zero Ethernet header)
        (0x15, 0, 11, 0x0800),   # IPv4, else drop
        (0x30, 0, 0, 23),        # ldb [23]: protocol
        (0x15, 0, 9, 6),         # TCP, else drop
        (0x28, 0, 0, 20),        # ldh [20]: fragment offset
        (0x45, 7, 0, 0x1FFF),    # a later fragment: drop
        (0xB1, 0, 0, 14),        # x = IP header length
        (0x48, 0, 0, 16),        # ldh [x+16]: destination port
        (0x15, 0, 4, port),
        (0x50, 0, 0, 27),        # ldb [x+27]: TCP flags
        (0x54, 0, 0, 0x12),      # SYN|ACK bits
        (0x15, 0, 1, 0x02),      # SYN alone
        (0x06, 0, 0, 0xFFFF),    # accept
        (0x06, 0, 0, 0),         # drop
    ]


class SynCounter:
    """Counts connection attempts to a loopback port while running (each once: the
    outgoing and the incoming copy of a SYN share source port and sequence number)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._seen: set[tuple[int, int]] = set()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # nothing yet
        program = b"".join(struct.pack("HBBI", *op) for op in _syn_filter(port))
        self._program = ctypes.create_string_buffer(program)  # kept alive while attached
        fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(self._program))
        self._sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        self._sock.bind(("lo", ETH_P_ALL))
        self._sock.settimeout(0.05)
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                data = self._sock.recv(128)
            except TimeoutError:
                continue
            except OSError:
                return
            ihl = (data[14] & 0x0F) * 4
            tcp = data[14 + ihl:]
            sport, dport, seq = struct.unpack("!HHI", tcp[:8])
            if dport == self.port and tcp[13] & 0x12 == 0x02:
                self._seen.add((sport, seq))

    def stop(self) -> int:
        """Stop counting; the number of attempts seen."""
        time.sleep(0.06)  # what is queued in the socket still counts
        self._running = False
        self._thread.join(1)
        self._sock.close()
        return len(self._seen)


class NodeSide:
    """The loopback sshd in a cgroup of its own: the node side's CPU, and a node that goes
    down (the sshd and every session it forked end, as when the host dies) and comes back
    on the same port."""

    def __init__(self, server: LoopbackSshd) -> None:
        self.config = server.dir / "sshd_config"
        port = next(line for line in self.config.read_text().splitlines()
                    if line.startswith("Port "))
        self.port = int(port.split()[1])
        self.server = server
        self.cpu = CpuMeter()
        self.proc: subprocess.Popen[bytes] | None = None
        if self.cpu.cgroup is not None and server.sshd is not None:
            (self.cpu.cgroup / "cgroup.procs").write_text(str(server.sshd.pid))

    @property
    def can_go_down(self) -> bool:
        return self.cpu.cgroup is not None

    def seconds(self) -> float | None:
        return self.cpu.seconds() if self.cpu.cgroup is not None else None

    def down(self) -> None:
        """End every process in the node's cgroup (by PID): the listener and its sessions."""
        deadline = time.monotonic() + 5
        while (pids := self.cpu.leftover_pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        for proc in (self.server.sshd, self.proc):
            if proc is not None:
                proc.poll()

    def up(self) -> float:
        """Start sshd again on the same port; the moment it accepts connections."""
        with open(self.server.dir / "sshd.log", "ab") as log:
            self.proc = subprocess.Popen(
                self.cpu.wrap([SSHD, "-D", "-e", "-f", str(self.config)]), stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.monotonic()
            except OSError:
                time.sleep(0.005)
        raise RuntimeError(f"sshd did not come back on port {self.port}")

    def close(self) -> None:
        """End the sshd and its sessions by PID (the LoopbackSshd then finds it gone)."""
        self.cpu.close()
        if self.proc is not None:
            self.proc.wait()
