"""Notice cheaply that a node that was down answers again.

A failed rsync is retried with growing backoff, since each attempt costs an ssh login or a
transfer. While a node is down, a TCP connect to its port (ssh's, as `ssh -G` resolves it,
or the rsync daemon's) costs almost nothing: one a second says when it is back, and the
node is retried at once instead of at the end of its backoff.
"""

from __future__ import annotations

import errno
import logging
import re
import socket
import subprocess
from collections.abc import Sequence

from inosync.config import Node

log = logging.getLogger("inosync.reach")
PROBE_INTERVAL = 1.0  # at most one connect a second while a node is down
PROBE_TIMEOUT = 1.0  # no answer within this is "still down"
RSYNC_DAEMON_PORT = 873


def parse_ssh_config(output: str) -> tuple[str, int] | None:
    """(host, port) from `ssh -G`, or None when ssh goes through a proxy (the port we
    could reach is not the node's)."""
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        values.setdefault(key.lower(), value.strip())
    for proxy in ("proxycommand", "proxyjump"):
        if values.get(proxy, "none").lower() != "none":
            return None
    host, port = values.get("hostname"), values.get("port", "22")
    if not host or not port.isdigit():
        return None
    return host, int(port)


def daemon_address(spec: str, extra: Sequence[str]) -> tuple[str, int] | None:
    """(host, port) of an rsync daemon node: "host::module" or "rsync://host[:port]/m"."""
    port = RSYNC_DAEMON_PORT
    for word in extra:
        if word.startswith("--port="):
            port = int(word.split("=", 1)[1]) if word[7:].isdigit() else port
    if spec.startswith("rsync://"):
        authority = spec[len("rsync://"):].split("/", 1)[0].rsplit("@", 1)[-1]
        match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:]+)(?::(\d+))?", authority)
        if match is None:
            return None
        host = match.group(1) or match.group(3)
        given = match.group(2) or match.group(4)
        return host, int(given) if given else port
    host = spec.split("::", 1)[0].rsplit("@", 1)[-1].strip("[]")
    return (host, port) if host else None


def node_address(node: Node, rsh: Sequence[str], extra: Sequence[str]) -> tuple[str, int] | None:
    """Where a node listens, as its transport would resolve it; None if it cannot be told."""
    if node.kind == "daemon":
        return daemon_address(node.spec, extra)
    if node.kind != "ssh":
        return None
    try:
        done = subprocess.run([*rsh, "-G", node.host], capture_output=True, text=True,
                              timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None  # an rsh that is not OpenSSH's
    return parse_ssh_config(done.stdout)


class PortProbe:
    """One non-blocking TCP connect; the loop waits for it to become writable."""

    def __init__(self, address: tuple[str, int], started: float) -> None:
        self.started = started
        self.sock: socket.socket | None = None
        try:
            infos = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_STREAM)
            family, kind, proto, _, sockaddr = infos[0]
            self.sock = socket.socket(family, kind | socket.SOCK_NONBLOCK, proto)
            code = self.sock.connect_ex(sockaddr)
        except OSError:
            self.close()
            return
        if code not in (0, errno.EINPROGRESS):
            self.close()  # refused at once: down

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def answered(self) -> bool:
        """After the socket became writable: did the connect succeed?"""
        if self.sock is None:
            return False
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
