"""rsync's exclude-pattern semantics, so watching and syncing agree with rsync itself.

The same patterns are also handed to every rsync call; this matcher decides what is not
watched and which events are dropped. Rules (rsync(1), "INCLUDE/EXCLUDE PATTERN RULES"):
a leading "/" anchors at the top of the tree; a trailing "/" matches directories only; a
pattern without "/" or "**" matches the last name only; others match at any name boundary;
"*" and "?" stop at "/", "**" does not; "dir/***" matches dir and everything inside; a
backslash escapes a wildcard. Anything below an excluded directory is excluded too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    anchored: bool
    dirs_only: bool


def _class_to_regex(pattern: str, start: int) -> tuple[str, int] | None:
    """Translate a "[...]" class starting at `start`; None when it is not closed."""
    index = start + 1
    negate = index < len(pattern) and pattern[index] in "!^"
    if negate:
        index += 1
    body_start = index
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        if pattern[index] == "[" and pattern.startswith("[:", index):
            end = pattern.find(":]", index + 2)
            if end < 0:
                return None
            index = end + 2
            continue
        index += 1
    if index >= len(pattern):
        return None
    body = pattern[body_start:index]
    posix = {"[:alpha:]": "a-zA-Z", "[:digit:]": "0-9", "[:alnum:]": "a-zA-Z0-9",
             "[:upper:]": "A-Z", "[:lower:]": "a-z", "[:space:]": r"\s",
             "[:punct:]": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
             "[:xdigit:]": "0-9a-fA-F"}
    body = body.replace("\\", "\\\\").replace("[", "\\[").replace("&&", "\\&\\&")
    for name, replacement in posix.items():
        body = body.replace(name.replace("[", "\\["), replacement)
    return ("[^" if negate else "[") + body + "]", index + 1


def wildcard_to_regex(pattern: str) -> str:
    """Translate an rsync wildcard pattern (no leading or trailing slash) to a regex."""
    out: list[str] = []
    index = 0
    has_wildcards = any(ch in pattern for ch in "*?[")
    while index < len(pattern):
        ch = pattern[index]
        if ch == "\\" and has_wildcards and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
        elif ch == "*":
            if pattern.startswith("**", index):
                out.append(".*")
                index += 2
                while index < len(pattern) and pattern[index] == "*":
                    index += 1
            else:
                out.append("[^/]*")
                index += 1
        elif ch == "?":
            out.append("[^/]")
            index += 1
        elif ch == "[":
            translated = _class_to_regex(pattern, index)
            if translated is None:
                out.append(re.escape(ch))
                index += 1
            else:
                out.append(translated[0])
                index = translated[1]
        else:
            out.append(re.escape(ch))
            index += 1
    return "".join(out)


def _compile(pattern: str) -> list[_Rule]:
    dirs_only = pattern.endswith("/") and pattern.strip("/") != ""
    body = pattern.rstrip("/") if dirs_only else pattern
    anchored = body.startswith("/")
    body = body.lstrip("/") if anchored else body
    bodies = [body]
    if body.endswith("/***"):
        bodies = [body[:-4], body[:-4] + "/**"]
    rules = []
    for item in bodies:
        if not item:
            continue
        regex = re.compile(wildcard_to_regex(item), re.DOTALL)
        rules.append(_Rule(regex, anchored, dirs_only))
    return rules


class ExcludeMatcher:
    """Answers "would rsync exclude this path?" for paths relative to the tree's top."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._rules = [rule for pattern in self.patterns for rule in _compile(pattern)]

    def __bool__(self) -> bool:
        return bool(self._rules)

    def matches_name(self, relpath: str, is_dir: bool) -> bool:
        """Does a rule match this exact path (not looking at its parents)?"""
        for rule in self._rules:
            if rule.dirs_only and not is_dir:
                continue
            if rule.anchored:
                if rule.regex.fullmatch(relpath):
                    return True
                continue
            start = 0
            while True:
                if rule.regex.fullmatch(relpath, start):
                    return True
                start = relpath.find("/", start) + 1
                if start == 0:
                    break
        return False

    def excluded(self, relpath: str, is_dir: bool) -> bool:
        """Is this path, or any directory above it, excluded? "" (the top) never is."""
        if not self._rules or not relpath:
            return False
        parts = relpath.split("/")
        for depth in range(1, len(parts)):
            if self.matches_name("/".join(parts[:depth]), True):
                return True
        return self.matches_name(relpath, is_dir)
