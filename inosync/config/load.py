"""Read a TOML config into a frozen Config, reporting every problem at once.

Each problem is one line that names the file and the key and says what to do, so a
sysadmin can fix a whole file in one pass.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from inosync.config.checker import (
    Checker,
    check_abs_dir_path,
    check_logfile,
    duration_key,
    parse_duration,
)
from inosync.config.nodes import Node, parse_node, read_nodes
from inosync.config.settings import (
    read_extra,
    read_on_sync,
    read_rsh,
    read_rspeed,
    read_verify_interval,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on old Pythons
    import tomli as tomllib

__all__ = ["Config", "ConfigError", "Node", "load", "parse_node", "validate"]

LOG_LEVELS = ("debug", "info", "warning", "error")
WATCHERS = ("auto", "inotify", "fanotify")


@dataclass(frozen=True)
class Config:
    """A validated instance configuration."""

    path: str
    wpath: str
    rpath: str
    nodes: tuple[Node, ...]
    rexcludes: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    rspeed: int = 0
    rsync: str = "rsync"
    rsh: tuple[str, ...] = ("ssh",)
    log_level: str = "info"
    max_delete_share: float = 0.5
    logfile: str = ""  # rsync's own log of updates (--log-file), "" for none
    verify_interval: float = 3600.0  # seconds between verifications of each node, 0 = off
    metrics_file: str = ""  # Prometheus textfile, "" for none
    max_parallel: int = 0  # rsyncs running at once over all nodes, 0 = four times the CPU cores
    on_sync: tuple[str, ...] = ()  # argv run after each good sync of a node, () for none
    on_sync_timeout: float = 60.0  # seconds a hook may run before it is killed
    keep_deleted: float = 0.0  # seconds nodes keep what syncs delete or overwrite, 0 = off
    watcher: str = "auto"  # "auto", "inotify" or "fanotify"
    dry_run: bool = field(default=False, compare=False)

    def for_node(self, node: Node) -> Config:
        """This config as one node runs it: the settings of its own table in rnodes
        (looked up by where the node is, so a reload's new settings apply) over these."""
        own = next((n.settings for n in self.nodes if n == node), node.settings)
        return replace(
            self,
            rsh=self.rsh if own.rsh is None else own.rsh,
            rspeed=self.rspeed if own.rspeed is None else own.rspeed,
            extra=self.extra if own.extra is None else own.extra,
            verify_interval=(self.verify_interval if own.verify_interval is None
                             else own.verify_interval),
            on_sync=self.on_sync if own.on_sync is None else own.on_sync)


class ConfigError(Exception):
    """The config is unusable; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


KNOWN_KEYS = ("wpath", "rpath", "rnodes", "rexcludes", "extra", "rspeed", "rsync", "rsh",
              "log_level", "max_delete_share", "logfile", "verify_interval", "metrics_file",
              "max_parallel", "on_sync", "on_sync_timeout", "keep_deleted", "watcher")


def validate(raw: dict[str, Any], path: str, *,
             exists: Callable[[str], bool] = os.path.isdir) -> Config:
    """Turn a parsed TOML table into a Config or raise ConfigError listing every problem.

    `exists` is injected so the rules can be tested without a filesystem.
    """
    c = Checker(path, raw)
    for key in raw:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
            hint = f' - did you mean "{close[0]}"?' if close else \
                f" - known keys: {', '.join(KNOWN_KEYS)}"
            c.fail(key, f"unknown key{hint}")
    wpath = check_abs_dir_path(c, "wpath", c.get("wpath", str, "", "a string", wrong=None))
    rpath = check_abs_dir_path(c, "rpath", c.get("rpath", str, "", "a string", wrong=None))
    if wpath.startswith("/") and not exists(wpath):
        c.fail("wpath", f'"{wpath}" is not an existing directory - create it or fix the path')
    if rpath == "/":
        c.fail("rpath", '"/" would mirror over a whole node - name a directory below it')
    keep_deleted = duration_key(c, "keep_deleted", 0)
    nodes = read_nodes(c, wpath, rpath, bool(keep_deleted))
    excludes = c.string_list("rexcludes")
    for index, pattern in enumerate(excludes):
        if not pattern.strip() or "\n" in pattern or "\0" in pattern:
            c.fail(f"rexcludes[{index}]", f"{pattern!r} is not a usable pattern")
    extra = read_extra(c, bool(keep_deleted))
    rspeed = read_rspeed(c)
    rsync = c.get("rsync", str, "rsync", "a string")
    if not rsync:
        c.fail("rsync", 'is empty - use "rsync" or the full path of the binary')
    rsh = read_rsh(c)
    log_level = c.get("log_level", str, "info", "a string").lower()
    if log_level not in LOG_LEVELS:
        c.fail("log_level", f'"{log_level}" is not one of {", ".join(LOG_LEVELS)}')
    share = c.get("max_delete_share", (float, int), 0.5, "a number between 0 and 1")
    if not 0 <= share <= 1:
        c.fail("max_delete_share", f"{share} is outside 0..1 - 0.5 means at most half a node")
    logfile = check_logfile(c, c.get("logfile", str, "", "a string"), wpath)
    verify_interval = read_verify_interval(c)
    metrics_file = c.get("metrics_file", str, "", "a string")
    if metrics_file and (not metrics_file.startswith("/") or metrics_file.endswith("/")):
        c.fail("metrics_file", f'"{metrics_file}" is not an absolute file path - e.g. '
               '"/var/lib/prometheus/node-exporter/inosync-www.prom"')
    max_parallel = c.get("max_parallel", int, 0, "a whole number (0 = four times the CPU cores)")
    if max_parallel < 0:
        c.fail("max_parallel", f"{max_parallel} is negative - use 0 for four times the CPU cores")
    on_sync = read_on_sync(c)
    on_sync_timeout = duration_key(c, "on_sync_timeout", 60)
    given = raw.get("on_sync_timeout")
    if isinstance(given, (int, float, str)) and parse_duration(given) == 0:
        c.fail("on_sync_timeout", '0 would let a hook that hangs hold back every later run '
               'of it - use e.g. "5m"')
    watcher = c.get("watcher", str, "auto", "a string")
    if watcher not in WATCHERS:
        c.fail("watcher", f'"{watcher}" is not one of {", ".join(WATCHERS)} - "auto" uses '
               "inotify until its watch limit cannot hold the tree, then fanotify")
    if c.problems:
        raise ConfigError(c.problems)
    return Config(path=path, wpath=wpath, rpath=rpath, nodes=tuple(nodes),
                  rexcludes=tuple(excludes), extra=extra, rspeed=rspeed, rsync=rsync,
                  rsh=rsh, log_level=log_level, max_delete_share=float(share),
                  logfile=logfile, verify_interval=verify_interval,
                  metrics_file=metrics_file, max_parallel=max_parallel, on_sync=on_sync,
                  on_sync_timeout=on_sync_timeout or 60.0, keep_deleted=keep_deleted,
                  watcher=watcher)


def load(path: str, *, exists: Callable[[str], bool] = os.path.isdir) -> Config:
    """Read and validate a config file; every failure is a ConfigError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if data.startswith(b"\xef\xbb\xbf"):
            raise ConfigError([f"{path}: starts with a UTF-8 byte order mark (BOM), which TOML "
                               "does not allow - save it as UTF-8 without BOM"])
        raw = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file - create it (see example.toml)"]) from None
    except (PermissionError, IsADirectoryError) as error:
        raise ConfigError([f"{path}: cannot read it ({error.strerror})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: is not UTF-8 text - save it as UTF-8"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: is not valid TOML ({error}) - fix the syntax"]) from None
    return validate(raw, path, exists=exists)
