"""Read a TOML config into a frozen Config, reporting every problem at once.

Each problem is one line that names the file and the key and says what to do, so a
sysadmin can fix a whole file in one pass.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inosync.config.extra_options import refused_options
from inosync.config.remote_shell import rsh_in_extra

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on old Pythons
    import tomli as tomllib

LOG_LEVELS = ("debug", "info", "warning", "error")
WATCHERS = ("auto", "inotify", "fanotify")


@dataclass(frozen=True)
class Node:
    """One mirror target: where rsync sends, and how it gets there."""

    spec: str  # as written in rnodes: "", "user@host:", "host::module", "rsync://h:p/module"
    kind: str  # "local", "ssh" or "daemon"
    host: str  # ssh destination ("user@host") for ssh nodes, "" otherwise
    dest: str  # rsync destination without trailing slash: "/srv/www", "user@host:/srv/www"
    name: str  # short label for logs and status


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
    watcher: str = "auto"  # "auto", "inotify" or "fanotify"
    dry_run: bool = field(default=False, compare=False)


class ConfigError(Exception):
    """The config is unusable; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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


class _Checker:
    """Collects problems while reading one table of raw TOML values."""

    def __init__(self, path: str, raw: dict[str, Any]) -> None:
        self.path = path
        self.raw = raw
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any,
            kind_name: str, wrong: Any = ...) -> Any:
        """The value of `key`, `default` when it is absent, `wrong` (default: `default`)
        when it has the wrong type, which is reported once here."""
        if key not in self.raw:
            return default
        value = self.raw[key]
        wrong = default if wrong is ... else wrong
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(key, f"must be {kind_name}, not a boolean")
            return wrong
        if not isinstance(value, kind):
            self.fail(key, f"must be {kind_name}, not {type(value).__name__} {value!r}")
            return wrong
        return value

    def string_list(self, key: str) -> list[str]:
        value = self.get(key, (list, str), [], "a list of strings")
        if isinstance(value, str):
            value = [value]
        good = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                good.append(item)
            else:
                self.fail(f"{key}[{index}]", f"must be a string, not {item!r}")
        return good

    def split_words(self, key: str, default: str) -> tuple[str, ...]:
        value = self.get(key, (str, list), default, "a string")
        if isinstance(value, list):
            if all(isinstance(v, str) for v in value):
                return tuple(value)
            self.fail(key, "must be a string or a list of strings")
            return tuple(shlex.split(default))
        try:
            return tuple(shlex.split(value))
        except ValueError as error:
            self.fail(key, f"cannot be split like a shell would ({error}) - check the quotes")
            return tuple(shlex.split(default))


KNOWN_KEYS = ("wpath", "rpath", "rnodes", "rexcludes", "extra", "rspeed", "rsync", "rsh",
              "log_level", "max_delete_share", "logfile", "verify_interval", "metrics_file",
              "max_parallel", "watcher")
def check_abs_dir_path(checker: _Checker, key: str, value: str | None) -> str:
    if value is None:
        return ""  # of the wrong type: already said
    if not value:
        checker.fail(key, "is missing - set it to an absolute directory path")
    elif "\0" in value:
        checker.fail(key, "contains a NUL byte")
    elif not value.startswith("/"):
        checker.fail(key, f'"{value}" is relative - write an absolute path like "/{value}"')
    return os.path.normpath(value) if value.startswith("/") else value


def validate(raw: dict[str, Any], path: str, *,
             exists: Callable[[str], bool] = os.path.isdir) -> Config:
    """Turn a parsed TOML table into a Config or raise ConfigError listing every problem.

    `exists` is injected so the rules can be tested without a filesystem.
    """
    c = _Checker(path, raw)
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
    node_specs = c.string_list("rnodes")
    if "rnodes" in raw and not node_specs and not any("rnodes" in p for p in c.problems):
        c.fail("rnodes", 'is empty - list at least one node, "" for a local mirror')
    if "rnodes" not in raw:
        c.fail("rnodes", 'is missing - list the nodes, e.g. ["user@host:"] or [""] for local')
    nodes: list[Node] = []
    for index, spec in enumerate(node_specs):
        node, reason = parse_node(spec, rpath)
        if node is None:
            c.fail(f"rnodes[{index}]", reason or "invalid")
            continue
        if any(n.dest == node.dest for n in nodes):
            c.fail(f"rnodes[{index}]", f'"{spec}" is listed twice - remove one')
            continue
        if node.kind == "local" and wpath.startswith("/") and rpath.startswith("/"):
            if _inside(rpath, wpath) or _inside(wpath, rpath):
                c.fail(f"rnodes[{index}]", f'the local mirror "{rpath}" overlaps wpath '
                       f'"{wpath}" - put rpath outside the watched tree')
        nodes.append(node)
    excludes = c.string_list("rexcludes")
    for index, pattern in enumerate(excludes):
        if not pattern.strip() or "\n" in pattern or "\0" in pattern:
            c.fail(f"rexcludes[{index}]", f"{pattern!r} is not a usable pattern")
    extra = c.split_words("extra", "")
    for word, reason in refused_options(extra):
        c.fail("extra", f'"{word}" {reason} - remove it')
    rspeed = c.get("rspeed", int, 0, "a whole number of KB/s (0 = no limit)")
    if isinstance(rspeed, int) and rspeed < 0:
        c.fail("rspeed", f"{rspeed} is negative - use 0 for no limit")
    rsync = c.get("rsync", str, "rsync", "a string")
    if not rsync:
        c.fail("rsync", 'is empty - use "rsync" or the full path of the binary')
    rsh = c.split_words("rsh", "ssh")
    if not rsh:
        c.fail("rsh", 'is empty - use "ssh" or e.g. "ssh -p 2222 -i /etc/inosync/www.key"')
    log_level = c.get("log_level", str, "info", "a string").lower()
    if log_level not in LOG_LEVELS:
        c.fail("log_level", f'"{log_level}" is not one of {", ".join(LOG_LEVELS)}')
    share = c.get("max_delete_share", (float, int), 0.5, "a number between 0 and 1")
    if not 0 <= share <= 1:
        c.fail("max_delete_share", f"{share} is outside 0..1 - 0.5 means at most half a node")
    for problem in rsh_in_extra(extra):
        c.fail("extra", problem)
    logfile = check_logfile(c, c.get("logfile", str, "", "a string"), wpath)
    verify_interval = check_duration(c, "verify_interval",
                                     c.get("verify_interval", (int, float, str), 3600,
                                           'seconds or a duration like "30m"'))
    metrics_file = c.get("metrics_file", str, "", "a string")
    if metrics_file and (not metrics_file.startswith("/") or metrics_file.endswith("/")):
        c.fail("metrics_file", f'"{metrics_file}" is not an absolute file path - e.g. '
               '"/var/lib/prometheus/node-exporter/inosync-www.prom"')
    max_parallel = c.get("max_parallel", int, 0, "a whole number (0 = four times the CPU cores)")
    if max_parallel < 0:
        c.fail("max_parallel", f"{max_parallel} is negative - use 0 for four times the CPU cores")
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
                  metrics_file=metrics_file, max_parallel=max_parallel, watcher=watcher)


DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | float | str) -> float | None:
    """Seconds from 90, 1.5, "90s", "30m", "1h" or "1d"; None when it is not one."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value.lower())
    if match is None:
        return None
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def check_duration(checker: _Checker, key: str, value: int | float | str) -> float:
    seconds = parse_duration(value)
    if seconds is None or seconds < 0:
        checker.fail(key, f'{value!r} is not a duration - write seconds, or e.g. "30m", "1h"; '
                     "0 turns it off")
        return 0.0
    if 0 < seconds < 1:
        checker.fail(key, f"{value!r} is under a second - use 1 or more, or 0 to turn it off")
        return 0.0
    return seconds


def check_logfile(checker: _Checker, logfile: str, wpath: str) -> str:
    """rsync appends its own log of updates here (the older inosync's `logfile`)."""
    if not logfile:
        return ""
    if "\0" in logfile or not logfile.startswith("/") or logfile.endswith("/"):
        checker.fail("logfile", f'"{logfile}" is not an absolute file path - write one like '
                     '"/var/log/inosync/www.log"')
        return logfile
    logfile = os.path.normpath(logfile)
    if wpath.startswith("/") and _inside(logfile, wpath):
        checker.fail("logfile", f'"{logfile}" is inside wpath, so every sync would cause '
                     "another - put it outside the watched tree")
    return logfile


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


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
