"""Naming an unknown or changed ssh host key as the cause of a failed node.

inosync runs ssh with BatchMode=yes, so ssh cannot ask whether to trust a host it has not
seen: it fails with "Host key verification failed.". The fix is a line in the known_hosts
file of the user the daemon runs as; this says which file and the ssh-keyscan to run.
"""

from __future__ import annotations

import re
import shlex

UNKNOWN, CHANGED = "unknown", "changed"


def host_key_failure(ssh_message: str) -> str:
    """UNKNOWN, CHANGED or "" from what ssh said when it failed."""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in ssh_message \
            or re.search(r"Host key for \S+ has changed", ssh_message):
        return CHANGED
    if "Host key verification failed" in ssh_message \
            or re.search(r"No \S+ host key is known for", ssh_message):
        return UNKNOWN
    return ""


def ssh_settings(ssh_g_output: str) -> dict[str, str]:
    """`ssh -G HOST`'s effective settings: the lower-case name, then the rest of the line."""
    settings: dict[str, str] = {}
    for line in ssh_g_output.splitlines():
        name, _, value = line.strip().partition(" ")
        settings.setdefault(name.lower(), value.strip())
    return settings


def known_hosts_file(settings: dict[str, str], home: str) -> str:
    """The known_hosts file ssh reads first for this host (and the one to add keys to)."""
    files = shlex.split(settings.get("userknownhostsfile", "~/.ssh/known_hosts"))
    first = files[0] if files else "~/.ssh/known_hosts"
    return home + first[1:] if first == "~" or first.startswith("~/") else first


def host_key_advice(node: str, kind: str, settings: dict[str, str], known_hosts: str,
                    user: str) -> str:
    """The problem line: which host, which file, and the commands that record its key."""
    host, port = settings.get("hostname", "") or "HOST", settings.get("port", "22")
    scan = shlex.join(["ssh-keyscan", *(["-p", port] if port != "22" else []), host])
    entry = f"[{host}]:{port}" if port != "22" else host
    record = f"{scan} >> {shlex.quote(known_hosts)}"
    fingerprint = shlex.join(["ssh-keygen", "-lf", known_hosts, "-F", entry])
    compare = (f"compare the fingerprint ({fingerprint}) with the node's own "
               "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there)")
    if kind == CHANGED:
        return (f"node {node!r}: the host key of {entry} is not the one in {known_hosts} "
                f"- if the node was reinstalled, and only then (otherwise someone may be in "
                f"between), replace it: ssh-keygen -f {shlex.quote(known_hosts)} -R "
                f"{shlex.quote(entry)} && {record}; then {compare}")
    return (f"node {node!r}: ssh does not know the host key of {entry}, and inosync runs ssh "
            f"with BatchMode=yes, so it cannot ask - record it in {known_hosts} (the "
            f"known_hosts file inosync's ssh reads as {user}): {record}; then {compare}")
