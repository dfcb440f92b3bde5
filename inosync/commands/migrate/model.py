"""What `inosync migrate` makes of an old config, whichever format it came from.

Both readers (the older inosync's Python module, lsyncd's Lua file) turn their input into
the same pieces: instances to write as TOML, and one message per key that was changed,
dropped or refused, each with the line it came from.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from inosync.config.load import ConfigError, validate


@dataclass(frozen=True)
class Note:
    """One message about the input: `line` in it, the `key` it is about, and what to know."""

    line: int
    key: str
    text: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.key}: {self.text}" if self.key else f"{where}: {self.text}"


@dataclass(frozen=True)
class Instance:
    """One inosync instance: the TOML keys, in the order they are written."""

    name: str
    origin: str  # where in the input it comes from, e.g. "sync{} at line 7"
    keys: dict[str, Any]
    notes: tuple[Note, ...] = ()  # carried over with a change, or dropped with a reason
    refused: tuple[Note, ...] = ()  # not carried over: the user has to decide


@dataclass(frozen=True)
class Migration:
    """Everything read from one input file."""

    instances: tuple[Instance, ...]
    notes: tuple[Note, ...] = ()
    refused: tuple[Note, ...] = ()


class Unreadable(Exception):
    """The input is not Python or Lua at all (syntax, encoding): nothing can be read."""

    def __init__(self, notes: list[Note]) -> None:
        super().__init__("; ".join(n.text for n in notes))
        self.notes = notes


class Refused(Exception):
    """The input holds code: migrate never runs it, so none of it is migrated."""

    def __init__(self, notes: list[Note]) -> None:
        super().__init__("; ".join(n.text for n in notes))
        self.notes = notes


@dataclass
class Collector:
    """Notes and refusals gathered while one instance is put together."""

    notes: list[Note] = field(default_factory=list)
    refused: list[Note] = field(default_factory=list)

    def note(self, line: int, key: str, text: str) -> None:
        self.notes.append(Note(line, key, text))

    def refuse(self, line: int, key: str, text: str) -> None:
        self.refused.append(Note(line, key, text))


def split_destination(dest: str) -> tuple[str, str] | str:
    """An rsync destination as (rnodes entry, absolute directory), or why it cannot be one.

    "/srv/www" -> ("", "/srv/www"); "web1:/srv/www" -> ("web1:", "/srv/www");
    "h::mod/www" -> ("h::mod", "/www"); "rsync://h:873/mod/www" -> ("rsync://h:873/mod", "/www").
    """
    if dest.startswith("rsync://"):
        host, _, rest = dest[len("rsync://"):].partition("/")
        module, _, path = rest.partition("/")
        spec, path = f"rsync://{host}/{module}", "/" + path
    elif "::" in dest:
        spec, _, rest = dest.partition("::")
        module, _, path = rest.partition("/")
        spec, path = f"{spec}::{module}", "/" + path
    elif dest.startswith("/"):
        spec, path = "", dest
    elif ":" in dest.split("/", 1)[0] or dest.startswith("["):
        cut = dest.index(":", dest.find("]") + 1) + 1
        spec, path = dest[:cut], dest[cut:]
        if not path.startswith("/"):
            where = "the login's home" if path.startswith("~") or not path else "its home"
            return (f'"{dest}" is relative to {where} on the node - write the absolute '
                    'directory, e.g. "host:/srv/www"')
    else:
        return f'"{dest}" is a relative path - write an absolute directory'
    path = posixpath.normpath(path)
    if path in ("/", "//"):
        return (f'"{dest}" is the root of the node or module - inosync mirrors into a '
                "directory below it")
    return spec, path


def instance_name(text: str) -> str:
    """A systemd instance name from a path or file name: letters, digits, '-', '_', '.'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", posixpath.basename(text.rstrip("/"))).strip("-.")
    return name or "root"


def unique_names(names: list[str]) -> list[str]:
    """The same names, a repeated one suffixed -2, -3, ..."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def refused_option(word: str) -> str:
    """Why inosync refuses this extra rsync option on its own, or "" when it takes it."""
    try:
        validate({"wpath": "/a", "rpath": "/b", "rnodes": [""], "extra": [word]}, "",
                 exists=lambda path: True)
    except ConfigError as error:
        return "; ".join(p.split(": ", 2)[-1] for p in error.problems)
    return ""
