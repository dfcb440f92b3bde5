"""The entries of `rnodes`: where each node is (rsync syntax) and what it sets for itself.

An entry is a string as rsync writes a destination, or a table that names one with `node`
and overrides some settings for that node alone. A node's identity is where it is: a
reload that changes only its settings keeps its state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from inosync.config.checker import Checker, inside
from inosync.config.settings import OVERRIDABLE, NodeSettings, read_node_settings


@dataclass(frozen=True)
class Node:
    """One mirror target: where rsync sends, and how it gets there."""

    spec: str  # as written in rnodes: "", "user@host:", "host::module", "rsync://h:p/module"
    kind: str  # "local", "ssh" or "daemon"
    host: str  # ssh destination ("user@host") for ssh nodes, "" otherwise
    dest: str  # rsync destination without trailing slash: "/srv/www", "user@host:/srv/www"
    name: str  # short label for logs and status
    settings: NodeSettings = field(default=NodeSettings(), compare=False)  # its own table

    @property
    def rooted(self) -> bool:
        """Addressed as a bare "user@host:": its key is confined by rrsync to rpath."""
        return self.kind == "ssh" and self.dest.endswith(":")



def parse_node(spec: str, rpath: str) -> tuple[Node | None, str | None]:
    """Classify an rnodes entry in rsync syntax; return (node, None) or (None, reason)."""
    if spec == "":
        return Node(spec, "local", "", rpath, "local:" + rpath), None
    if spec.startswith("rsync://"):
        rest = spec[len("rsync://"):].rstrip("/")
        if "/" not in rest or not rest.split("/", 1)[1]:
            return None, f'"{spec}" names no module - write "rsync://host[:port]/module"'
        return Node(spec, "daemon", "", spec.rstrip("/") + rpath, spec.rstrip("/")), None
    bracket_end = spec.find("]") + 1 if "[" in spec else 0  # [IPv6] hosts hold colons
    if "::" in spec[bracket_end:]:
        cut = spec.index("::", bracket_end)
        host, module = spec[:cut], spec[cut + 2:]
        if not host or not module:
            return None, f'"{spec}" needs a host and a module - write "host::module"'
        return Node(spec, "daemon", "", spec.rstrip("/") + rpath, spec), None
    if spec.endswith(":") and spec[bracket_end:].count(":") == 1:
        host = spec[:-1]
        if not host or any(c.isspace() for c in host) or host.startswith("-"):
            return None, f'"{spec}" is not a valid ssh host - write "user@host:"'
        ssh_host = host.replace("[", "").replace("]", "")  # ssh wants ::1, rsync [::1]
        return Node(spec, "ssh", ssh_host, spec + rpath, host), None
    if ":" not in spec:
        return None, f'"{spec}" has no \':\' - write "{spec}:" for ssh or "" for local'
    return None, (f'"{spec}" is not rsync node syntax - write "user@host:" (ssh), '
                  '"host::module" (rsync daemon) or "" (local); the path goes in rpath')


NODE_KEYS = ("node", *OVERRIDABLE)


def read_nodes(c: Checker, wpath: str, rpath: str, keep_deleted: bool) -> list[Node]:
    """Every entry of rnodes that is usable; the others are reported by index."""
    if "rnodes" not in c.raw:
        c.fail("rnodes", 'is missing - list the nodes, e.g. ["user@host:"] or [""] for local')
        return []
    entries = c.get("rnodes", (list, str), [], "a list of nodes", wrong=None)
    if entries is None:
        return []
    if isinstance(entries, str):
        entries = [entries]
    if not entries:
        c.fail("rnodes", 'is empty - list at least one node, "" for a local mirror')
    nodes: list[Node] = []
    for index, entry in enumerate(entries):
        node = _read_entry(c, f"rnodes[{index}]", entry, rpath, keep_deleted)
        if node is None:
            continue
        if any(n.dest == node.dest for n in nodes):
            c.fail(f"rnodes[{index}]", f'"{node.spec}" is listed twice - remove one')
            continue
        if node.kind == "local" and wpath.startswith("/") and rpath.startswith("/"):
            if inside(rpath, wpath) or inside(wpath, rpath):
                c.fail(f"rnodes[{index}]", f'the local mirror "{rpath}" overlaps wpath '
                       f'"{wpath}" - put rpath outside the watched tree')
        nodes.append(node)
    return nodes


def _read_entry(c: Checker, where: str, entry: Any, rpath: str,
                keep_deleted: bool) -> Node | None:
    settings = NodeSettings()
    if isinstance(entry, dict):
        table = c.table(entry, where + ".")
        for key in entry:
            if key not in NODE_KEYS:
                table.fail(key, f"unknown key - a node's table may set {', '.join(NODE_KEYS)}")
        if "node" not in entry:
            table.fail("node", 'is missing - name the node, e.g. '
                       '{ node = "deploy@web1:", rspeed = 2000 }')
            return None
        spec = table.get("node", str, None, "a string in rsync syntax", wrong=None)
        settings = read_node_settings(table, keep_deleted)
        where = where + ".node"
    elif isinstance(entry, str):
        spec = entry
    else:
        c.fail(where, f'must be a string like "user@host:" or a table like '
               f'{{ node = "user@host:", rspeed = 2000 }}, not {entry!r}')
        return None
    if spec is None:
        return None
    node, reason = parse_node(spec, rpath)
    if node is None:
        c.fail(where, reason or "invalid")
        return None
    return replace(node, settings=settings)
