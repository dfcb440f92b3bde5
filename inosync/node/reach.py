"""Notice cheaply that a node that was down answers again.

A failed rsync is retried with growing backoff, since each attempt costs an ssh login or a
transfer. While a node is down, a TCP connect to its port (ssh's, as `ssh -G` resolves it,
or the rsync daemon's) costs almost nothing: one a second says when it is back, and the
node is retried at once instead of at the end of its backoff.

Nothing that can wait on the network runs in the loop: the commands that find the port
(`ssh -G`, then a name lookup) are built here and run by `link` as children the loop
waits on (a resolver that never answers would otherwise stall it for its whole timeout);
their answer is kept, and asked again at most once a minute (`lookup_due`).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import re
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inosync.rsync.argv import Command

log = logging.getLogger("inosync.reach")
PROBE_INTERVAL = 1.0  # at most one connect a second while a node is down
PROBE_TIMEOUT = 1.0  # no answer within this is "still down"
LOOKUP_INTERVAL = 60.0  # at most one lookup of a node's address a minute
LOOKUP_TIMEOUT = 10.0  # a lookup child still running after this is killed: no answer
RSYNC_DAEMON_PORT = 873

# The lookup child: getaddrinfo as the daemon would call it, one address a line.
_LOOKUP_SCRIPT = """\
import socket, sys
for family, _, _, _, address in socket.getaddrinfo(sys.argv[1], int(sys.argv[2]),
                                                   type=socket.SOCK_STREAM):
    print(int(family), *address)
"""


@dataclass(frozen=True)
class SocketAddress:
    """Where to connect: an address family and a sockaddr tuple as getaddrinfo gives it."""

    family: int
    sockaddr: tuple[Any, ...]


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


def ssh_config_command(rsh: Sequence[str], host: str) -> Command:
    """`ssh -G host`: where the node's ssh would connect (it may look names up: a child)."""
    return Command((*rsh, "-G", host))


def lookup_command(host: str, port: int, python: str = sys.executable) -> Command:
    """A child that looks `host` up; `-I -S` so it starts in milliseconds and imports
    nothing from the environment."""
    return Command((python or "python3", "-I", "-S", "-c", _LOOKUP_SCRIPT, host, str(port)))


def parse_lookup(output: bytes) -> SocketAddress | None:
    """The first address the lookup child printed, or None."""
    for line in output.decode("ascii", "replace").splitlines():
        words = line.split()
        if len(words) < 3 or not all(w.isdigit() for w in (words[0], *words[2:])):
            continue
        family, host, rest = int(words[0]), words[1], [int(w) for w in words[2:]]
        if family == socket.AF_INET and len(rest) == 1:
            return SocketAddress(family, (host, rest[0]))
        if family == socket.AF_INET6 and len(rest) == 3:
            return SocketAddress(family, (host, *rest))
    return None


def numeric_address(host: str, port: int) -> SocketAddress | None:
    """An IP address as written needs no lookup: its sockaddr at once, else None."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_NUMERICHOST)  # never asks a resolver
    except (ValueError, OSError):
        return None
    family, _, _, _, sockaddr = infos[0]
    return SocketAddress(int(family), tuple(sockaddr))


def lookup_due(now: float, looked_up_at: float | None, answered: bool,
               probe_failed: bool) -> bool:
    """Whether to look a node's address up (again) before probing it: the first time; and
    when the last lookup gave nothing or a probe failed since (the node may have moved),
    but at most once every LOOKUP_INTERVAL, as each lookup may hang until its timeout."""
    if looked_up_at is None:
        return True
    if answered and not probe_failed:
        return False
    return now - looked_up_at >= LOOKUP_INTERVAL


class PortProbe:
    """One non-blocking TCP connect; the loop waits for it to become writable."""

    def __init__(self, address: SocketAddress, started: float) -> None:
        self.started = started
        self.sock: socket.socket | None = None
        try:
            self.sock = socket.socket(address.family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            code = self.sock.connect_ex(address.sockaddr)
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
