"""Read an older inosync config (a Python module) without running it.

Only `NAME = literal` lines are read, walking Python's syntax tree; anything else (imports,
calls, names, `+`) is refused with its line, so nothing in the file is ever executed.
"""

from __future__ import annotations

import ast
import posixpath
import shlex
from typing import Any

from inosync.commands.migrate.model import (
    Collector,
    Instance,
    Migration,
    Note,
    Refused,
    Unreadable,
    instance_name,
    refused_option,
    split_destination,
    unique_names,
)
from inosync.config.remote_shell import rsh_options

DROPPED = {
    "edelay": "dropped - inosync sends a file once it is closed and batches changes while "
              "rsync runs, so there is no delay to set",
    "emask": "dropped - inosync watches the events a mirror needs (writes, creates, deletes, "
             "moves, attributes) and replays renames instead of re-sending",
    "pretend": "dropped - run inosync --dry-run to log every command without running it",
}
USED = ("wpath", "wpaths", "rpath", "rpaths", "rnodes", "rexcludes", "extra", "rspeed",
        "rsync", "logfile", *DROPPED)


class _NotLiteral(Exception):
    def __init__(self, node: ast.AST) -> None:
        super().__init__()
        self.node = node


def _literal(node: ast.expr) -> Any:
    """The value of a literal: strings, numbers, booleans, None, lists and tuples of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, type(None))):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(item) for item in node.elts]
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float))):
        return -node.operand.value
    raise _NotLiteral(node)


def _what(node: ast.AST) -> str:
    if isinstance(node, ast.Expr):
        node = node.value
    kinds = {ast.Call: "a function call", ast.Name: "a variable", ast.BinOp: "an expression",
             ast.JoinedStr: "an f-string", ast.Attribute: "a name from a module",
             ast.Import: "an import", ast.ImportFrom: "an import", ast.FunctionDef: "a function",
             ast.If: "an if", ast.For: "a loop", ast.AugAssign: "a change to a variable"}
    return next((text for kind, text in kinds.items() if isinstance(node, kind)), "code")


def read_assignments(text: str) -> dict[str, tuple[int, Any]]:
    """NAME -> (line, value) for every top-level `NAME = literal`; code raises Refused."""
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise Unreadable([Note(error.lineno or 0, "", f"is not a Python config ({error.msg}) "
                               "- fix the syntax or write the TOML by hand")]) from None
    values: dict[str, tuple[int, Any]] = {}
    problems = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            problems.append(Note(stmt.lineno, "", f"{_what(stmt)} is code - migrate reads only "
                                 "NAME = value lines and never runs the file; remove it"))
            continue
        name = stmt.targets[0].id
        try:
            values[name] = (stmt.lineno, _literal(stmt.value))
        except _NotLiteral as error:
            snippet = ast.get_source_segment(text, error.node) or ""
            snippet = snippet if len(snippet) <= 40 else snippet[:37] + "..."
            problems.append(Note(getattr(error.node, "lineno", stmt.lineno), name,
                                 f"{snippet} is {_what(error.node)}, not a value - write the "
                                 "value itself (migrate never runs the file)"))
    if problems:
        raise Refused(problems)
    return values


def _strings(values: dict[str, tuple[int, Any]], key: str, got: Collector) -> list[str]:
    line, value = values.get(key, (0, None))
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        got.refuse(line, key, "must be a string or a list of strings - left out")
        return []
    return list(items)


def _pairs(values: dict[str, tuple[int, Any]], got: Collector) -> list[tuple[str, str, bool]]:
    """(wpath, rpath, wpath's own name goes below rpath) for each watched path."""
    if "wpath" in values and "wpaths" in values:
        got.refuse(values["wpaths"][0], "wpaths", "both wpath and wpaths are set - keep one")
    listed = "wpaths" in values
    wpaths = _strings(values, "wpaths" if listed else "wpath", got)
    rpaths = _strings(values, "rpaths" if "rpaths" in values else "rpath", got) or [""]
    if len(rpaths) == 1 and len(wpaths) > 1:
        rpaths = rpaths * len(wpaths)
    if len(rpaths) != len(wpaths):
        got.refuse(values.get("rpaths", (0, 0))[0], "rpaths",
                   f"{len(rpaths)} rpaths for {len(wpaths)} wpaths - they pair up one to one")
        return []
    # The older inosync handed each wpath of a list to rsync as written: without a trailing
    # slash rsync put the directory itself below rpath.
    return [(w, r, listed and not w.endswith("/")) for w, r in zip(wpaths, rpaths)]


def _extra(values: dict[str, tuple[int, Any]], got: Collector) -> tuple[list[str], str]:
    line, value = values.get("extra", (0, ""))
    if not value:
        return [], ""
    if not isinstance(value, str):
        got.refuse(line, "extra", "must be a string of rsync options - left out")
        return [], ""
    try:
        words = shlex.split(value)
    except ValueError as error:
        got.refuse(line, "extra", f"cannot be split like a shell would ({error}) - left out")
        return [], ""
    rsh = ""
    for at, used, command in reversed(rsh_options(words)):
        got.note(line, "extra", f'"{" ".join(words[at:at + used])}" became rsh = "{command}"')
        rsh = rsh or command
        del words[at:at + used]
    kept = []
    for index, word in enumerate(words):
        reason = refused_option(word) if word.startswith("-") else ""
        alone = "=" in word or index + 1 == len(words) or words[index + 1].startswith("-")
        if word in ("-a", "--archive"):
            got.note(line, "extra", f'"{word}" dropped - inosync always runs rsync -a')
        elif reason and alone:
            got.refuse(line, "extra", f"left out: {reason.removesuffix(' - remove it')}")
        else:
            kept.append(word)
    return kept, rsh


def _common(values: dict[str, tuple[int, Any]], got: Collector) -> dict[str, Any]:
    """The keys every instance shares: rsync options, the binary, the log, the shell."""
    common: dict[str, Any] = {}
    extra, rsh = _extra(values, got)
    if extra:
        common["extra"] = shlex.join(extra)
    line, rspeed = values.get("rspeed", (0, 0))
    if isinstance(rspeed, int) and not isinstance(rspeed, bool) and rspeed > 0:
        common["rspeed"] = rspeed
    elif rspeed:
        got.refuse(line, "rspeed", f"{rspeed!r} is not a whole number of KB/s - left out")
    line, binary = values.get("rsync", (0, None))
    if isinstance(binary, str) and binary:
        common["rsync"] = binary
    elif binary is not None:
        got.refuse(line, "rsync", f"{binary!r} is not a path - left out")
    if rsh:
        common["rsh"] = rsh
    line, logfile = values.get("logfile", (0, None))
    if isinstance(logfile, str) and logfile.startswith("/"):
        common["logfile"] = logfile
    elif logfile:
        got.refuse(line, "logfile", f"{logfile!r} is relative to wherever the older inosync "
                   "ran - set an absolute path in the TOML")
    return common


def _excludes(values: dict[str, tuple[int, Any]], count: int,
              got: Collector) -> list[list[str]]:
    """Exclude patterns for each wpath (one fork kept a list per wpath)."""
    line, value = values.get("rexcludes", (0, []))
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        if len(value) == count and all(isinstance(p, str) for v in value for p in v):
            return [list(v) for v in value]
        got.refuse(line, "rexcludes", "must be one list of strings per wpath - left out")
        return [[]] * count
    return [_strings(values, "rexcludes", got)] * count


def migrate(text: str, source: str) -> Migration:
    """The instances an older inosync config describes: one per wpath (and node directory)."""
    values = read_assignments(text)
    got = Collector()
    for key, (line, value) in values.items():
        if key in DROPPED and value not in (None, False):
            got.note(line, key, DROPPED[key])
        elif key not in USED:
            got.refuse(line, key, "is not a key of the older inosync - left out")
    nodes = _strings(values, "rnodes", got)
    if "rnodes" not in values:
        got.refuse(0, "rnodes", "is missing - list the nodes in the TOML")
    common = _common(values, got)
    pairs = _pairs(values, got)
    excludes = _excludes(values, len(pairs), got)
    # The older inosync sent to node + rpath: nodes that carry a directory ("host:/srv")
    # with no rpath, or different directories, become one instance per directory.
    groups: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for (wpath, rpath, below), patterns in zip(pairs, excludes):
        for node in nodes:
            dest = split_destination(node + rpath)
            if isinstance(dest, str):
                got.refuse(values["rnodes"][0], "rnodes", dest)
                continue
            spec, path = dest
            if below:
                path = posixpath.join(path, posixpath.basename(wpath.rstrip("/")))
            groups.setdefault((posixpath.normpath(wpath), path), ([], patterns))[0].append(spec)
    stem = instance_name(source.removesuffix(".py"))
    names = unique_names([stem if len(groups) == 1 else f"{stem}-{instance_name(wpath)}"
                          for wpath, _ in groups])
    instances = []
    for name, ((wpath, rpath), (specs, patterns)) in zip(names, groups.items()):
        keys: dict[str, Any] = {"wpath": wpath, "rpath": rpath, "rnodes": specs}
        if patterns:
            keys["rexcludes"] = patterns
        keys.update(common)
        instances.append(Instance(name, f"wpath {wpath}", keys))
    return Migration(tuple(instances), tuple(got.notes), tuple(got.refused))
