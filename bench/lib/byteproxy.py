"""A TCP proxy on 127.0.0.1 that counts every byte it forwards.

Why: "bytes sent over ssh" must be counted by something neither tool controls. ssh's own
"Transferred:" line only appears when a connection closes, and a daemon that keeps an ssh
ControlMaster open never closes it during a workload. So the ssh node's port is this proxy,
which forwards to the benchmark's sshd and keeps two running totals (client->server and
server->client TCP payload: the encrypted ssh stream, protocol overhead included) in a small
shared file that the harness reads at any moment.

It runs as its own process (not a harness thread) so the harness's Python work cannot delay
forwarding through the GIL. Usage: byteproxy.py TARGET_PORT COUNTER_FILE; it prints its
listening port on the first line of stdout and runs until killed.
"""

from __future__ import annotations

import mmap
import socket
import struct
import sys
import threading

COUNTER_FORMAT = "<QQ"  # bytes client->server, bytes server->client
COUNTER_SIZE = struct.calcsize(COUNTER_FORMAT)


def read_counters(path: str) -> tuple[int, int]:
    """Return (up, down) byte totals from a counter file written by a running proxy."""
    with open(path, "rb") as f:
        data = f.read(COUNTER_SIZE)
    if len(data) < COUNTER_SIZE:
        return (0, 0)
    up, down = struct.unpack(COUNTER_FORMAT, data)
    return int(up), int(down)


class _Counters:
    """Totals kept in a shared mapping; a lock keeps the two threads of a pair consistent."""

    def __init__(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(b"\0" * COUNTER_SIZE)
        self._file = open(path, "r+b")  # noqa: SIM115 - lives as long as the process
        self._map = mmap.mmap(self._file.fileno(), COUNTER_SIZE)
        self._lock = threading.Lock()
        self._totals = [0, 0]

    def add(self, index: int, n: int) -> None:
        with self._lock:
            self._totals[index] += n
            struct.pack_into(COUNTER_FORMAT, self._map, 0, *self._totals)


def _pump(src: socket.socket, dst: socket.socket, counters: _Counters, index: int) -> None:
    """Copy one direction until EOF; then half-close so the peer sees the EOF too."""
    buf = bytearray(256 * 1024)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if n == 0:
                break
            dst.sendall(view[:n])
            counters.add(index, n)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _serve_connection(client: socket.socket, target_port: int, counters: _Counters) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    down = threading.Thread(target=_pump, args=(upstream, client, counters, 1), daemon=True)
    down.start()
    _pump(client, upstream, counters, 0)
    down.join()
    client.close()
    upstream.close()


def main(argv: list[str]) -> int:
    target_port, counter_path = int(argv[1]), argv[2]
    counters = _Counters(counter_path)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(
            target=_serve_connection, args=(client, target_port, counters), daemon=True
        ).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
