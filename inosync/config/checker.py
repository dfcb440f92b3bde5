"""Reading raw TOML values one key at a time, collecting every problem as one line that
names the file and the key (`rnodes[1].rspeed` for a node's own setting)."""

from __future__ import annotations

import os
import re
import shlex
from typing import Any


class Checker:
    """Collects problems while reading one table of raw TOML values; `prefix` names the
    table inside the file ("" for the top, "rnodes[1]." for a node's table)."""

    def __init__(self, path: str, raw: dict[str, Any], prefix: str = "",
                 problems: list[str] | None = None) -> None:
        self.path = path
        self.raw = raw
        self.prefix = prefix
        self.problems: list[str] = [] if problems is None else problems

    def table(self, raw: dict[str, Any], prefix: str) -> Checker:
        """A checker for a table inside this one, reporting into the same list."""
        return Checker(self.path, raw, prefix, self.problems)

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {self.prefix}{key}: {message}")

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


def check_abs_dir_path(checker: Checker, key: str, value: str | None) -> str:
    if value is None:
        return ""  # of the wrong type: already said
    if not value:
        checker.fail(key, "is missing - set it to an absolute directory path")
    elif "\0" in value:
        checker.fail(key, "contains a NUL byte")
    elif not value.startswith("/"):
        checker.fail(key, f'"{value}" is relative - write an absolute path like "/{value}"')
    return os.path.normpath(value) if value.startswith("/") else value


DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | float | str) -> float | None:
    """Seconds from 90, 1.5, "90s", "30m", "1h" or "1d"; None when it is not one."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value.lower())
    if match is None:
        return None
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def check_duration(checker: Checker, key: str, value: int | float | str) -> float:
    seconds = parse_duration(value)
    if seconds is None or seconds < 0:
        checker.fail(key, f'{value!r} is not a duration - write seconds, or e.g. "30m", "1h"; '
                     "0 turns it off")
        return 0.0
    if 0 < seconds < 1:
        checker.fail(key, f"{value!r} is under a second - use 1 or more, or 0 to turn it off")
        return 0.0
    return seconds


def duration_key(checker: Checker, key: str, default: int | float | str) -> float:
    """A duration key: seconds, or a string such as "30m"; 0 turns it off."""
    return check_duration(checker, key, checker.get(key, (int, float, str), default,
                                                    'seconds or a duration like "30m"'))


def check_logfile(checker: Checker, logfile: str, wpath: str) -> str:
    """rsync appends its own log of updates here (the older inosync's `logfile`)."""
    if not logfile:
        return ""
    if "\0" in logfile or not logfile.startswith("/") or logfile.endswith("/"):
        checker.fail("logfile", f'"{logfile}" is not an absolute file path - write one like '
                     '"/var/log/inosync/www.log"')
        return logfile
    logfile = os.path.normpath(logfile)
    if wpath.startswith("/") and inside(logfile, wpath):
        checker.fail("logfile", f'"{logfile}" is inside wpath, so every sync would cause '
                     "another - put it outside the watched tree")
    return logfile


def inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")
