"""The settings a node may set for itself (`rsh`, `rspeed`, `extra`, `verify_interval`,
`on_sync`), read the same way at the top of the file and in a node's table."""

from __future__ import annotations

from dataclasses import dataclass

from inosync.config.checker import Checker, duration_key
from inosync.config.extra_options import refused_options
from inosync.config.remote_shell import rsh_in_extra

OVERRIDABLE = ("rsh", "rspeed", "extra", "verify_interval", "on_sync")
KEPT_OPTIONS = ("-b", "--backup", "--backup-dir", "--suffix")  # keep_deleted's own


@dataclass(frozen=True)
class NodeSettings:
    """What one node's table in rnodes sets for it alone; None: as the instance."""

    rsh: tuple[str, ...] | None = None
    rspeed: int | None = None
    extra: tuple[str, ...] | None = None
    verify_interval: float | None = None
    on_sync: tuple[str, ...] | None = None


def read_rsh(c: Checker) -> tuple[str, ...]:
    rsh = c.split_words("rsh", "ssh")
    if not rsh:
        c.fail("rsh", 'is empty - use "ssh" or e.g. "ssh -p 2222 -i /etc/inosync/www.key"')
    return rsh


def read_rspeed(c: Checker) -> int:
    rspeed: int = c.get("rspeed", int, 0, "a whole number of KB/s (0 = no limit)")
    if rspeed < 0:
        c.fail("rspeed", f"{rspeed} is negative - use 0 for no limit")
    return rspeed


def read_extra(c: Checker, keep_deleted: bool) -> tuple[str, ...]:
    extra = c.split_words("extra", "")
    for word, reason in refused_options(extra):
        c.fail("extra", f'"{word}" {reason} - remove it')
    for problem in rsh_in_extra(extra):
        c.fail("extra", problem)
    if keep_deleted:
        for word in extra:
            if word.split("=", 1)[0] in KEPT_OPTIONS:
                c.fail("extra", f'"{word}" would fight keep_deleted, which sets where rsync '
                       "keeps deleted and overwritten files - remove it")
    return extra


def read_verify_interval(c: Checker) -> float:
    return duration_key(c, "verify_interval", 3600)


def read_on_sync(c: Checker) -> tuple[str, ...]:
    """An argv, run without a shell: a string would have to be split, and quoting in a
    config file is where hooks go wrong."""
    value = c.get("on_sync", list, [], 'a list of words like ["/usr/local/bin/purge-cdn", '
                  '"--zone", "www"] (it runs without a shell)')
    words = []
    for index, word in enumerate(value):
        if not isinstance(word, str) or "\0" in word:
            c.fail(f"on_sync[{index}]", f"must be a string without NUL bytes, not {word!r}")
        else:
            words.append(word)
    if words and not words[0]:
        c.fail("on_sync[0]", 'is empty - name the program, e.g. "/usr/local/bin/purge-cdn"')
    return tuple(words)


def read_node_settings(c: Checker, keep_deleted: bool) -> NodeSettings:
    """A node table's own settings; the keys it does not set stay None."""
    return NodeSettings(
        rsh=read_rsh(c) if "rsh" in c.raw else None,
        rspeed=read_rspeed(c) if "rspeed" in c.raw else None,
        extra=read_extra(c, keep_deleted) if "extra" in c.raw else None,
        verify_interval=read_verify_interval(c) if "verify_interval" in c.raw else None,
        on_sync=read_on_sync(c) if "on_sync" in c.raw else None)
