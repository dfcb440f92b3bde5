"""Turn lsyncd's settings{} and sync{} blocks into inosync instances.

Each setting either maps to an inosync key, or is named with what inosync does instead;
`delete` becomes the nearest safe inosync behaviour (migrate_delete). A block whose meaning
inosync cannot keep (a custom layer, filter rules) is refused whole: writing it would change
what ends up on the target.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import Any

from inosync.commands.migrate.delete import delete_mapping
from inosync.commands.migrate.lua import Block, Ref, Table, Value, read_blocks
from inosync.commands.migrate.model import (
    Collector,
    Instance,
    Migration,
    Note,
    instance_name,
    refused_option,
    split_destination,
    unique_names,
)
from inosync.config.remote_shell import rsh_options

_JOURNAL = "inosync logs every sync to the journal (journalctl -u inosync@NAME)"
_STATUS = "systemctl status inosync@NAME shows the state of every node"
_BATCH = "inosync batches the changes that arrive while a node's rsync runs"
INSTEAD = {
    "logfile": _JOURNAL, "logident": _JOURNAL, "logfacility": _JOURNAL,
    "statusFile": _STATUS, "statusInterval": _STATUS,
    "nodaemon": "systemd runs inosync in the foreground", "pidfile": "systemd tracks it",
    "insist": "inosync starts with nodes down and retries them with backoff",
    "inotifyMode": "inosync sends a file once it is closed and replays moves",
    "maxDelays": _BATCH, "maxProcesses": "inosync runs one rsync per node, nodes in parallel",
    "delay": "inosync sends a change within a fraction of a second and batches the "
             "changes that arrive while a node's rsync runs",
    "init": "inosync always starts with a full sync, which sends only what differs",
    "crontab": "systemctl reload inosync@NAME runs a full sync: use a systemd timer",
    "xargs": "inosync replays a batch of renames with one sh per node",
    "verbose": _JOURNAL, "quiet": _JOURNAL, "archive": "inosync always runs rsync -a",
    "dry_run": "run inosync --dry-run", "protect_args": "inosync passes names on stdin",
}
CUSTOM = ("action", "onAttrib", "onCreate", "onModify", "onDelete", "onMove", "onStartup",
          "collect", "prepare", "checkgauge")
# lsyncd's rsync={...} options that are rsync's long options with - for _.
RSYNC_FLAGS = (
    "acls", "append", "append_verify", "backup", "backup_dir", "checksum", "chmod", "chown",
    "compress", "copy_dirlinks", "copy_links", "copy_unsafe_links", "cvs_exclude",
    "executability", "existing", "groupmap", "hard_links", "ignore_times", "inplace", "ipv4",
    "ipv6", "keep_dirlinks", "one_file_system", "omit_dir_times", "omit_link_times",
    "password_file", "prune_empty_dirs", "rsync_path", "sparse", "suffix", "temp_dir",
    "timeout", "update", "usermap", "whole_file", "xattrs")
IN_ARCHIVE = ("perms", "owner", "group", "links", "times")


class _BlockRefused(Exception):
    def __init__(self, line: int, key: str, text: str) -> None:
        super().__init__(text)
        self.note = Note(line, key, f"{text} - this sync{{}} is not migrated")


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def migrate(text: str, source: str, read: Callable[[str], str] = _read_text) -> Migration:
    """One instance per sync{} block; blocks that differ only in their node are merged."""
    blocks = read_blocks(text)
    got = Collector()
    common: dict[str, Any] = {}
    for block in (b for b in blocks if b.kind == "settings"):
        _settings(block.table, common, got)
    instances, refused = [], list(got.refused)
    for block in (b for b in blocks if b.kind == "sync"):
        try:
            instances.append(_sync(block, common, os.path.dirname(source), read))
        except _BlockRefused as error:
            refused.append(error.note)
    if not any(b.kind == "sync" for b in blocks):
        refused.append(Note(0, "", "has no sync{} block - nothing to migrate"))
    return Migration(tuple(_merge(instances)), tuple(got.notes), tuple(refused))


def _settings(table: Table, common: dict[str, Any], got: Collector) -> None:
    for key, (line, value) in table.fields.items():
        if key == "log":
            level = {"scarce": "warning", "normal": "info"}.get(str(value).lower(), "debug")
            common["log_level"] = level
            got.note(line, "settings.log", f'became log_level = "{level}"')
        elif key in INSTEAD:
            got.note(line, f"settings.{key}", f"dropped - {INSTEAD[key]}")
        else:
            got.refuse(line, f"settings.{key}", "is not an lsyncd setting inosync knows - "
                       "left out")


def _string(table: Table, key: str, required: bool = True) -> tuple[int, str]:
    line, value = table.fields.get(key, (table.line, None))
    if value is None and not required:
        return line, ""
    if not isinstance(value, str) or not value:
        raise _BlockRefused(line, key, "is missing" if value is None else "must be a string")
    return line, value


def _sync(block: Block, common: dict[str, Any], base: str,
          read: Callable[[str], str]) -> Instance:
    table, got = block.table, Collector()
    layer = next((v for _, v in table.items if isinstance(v, Ref)), None)
    if layer is None or len(table.items) != 1:
        raise _BlockRefused(block.line, "", "has no default.rsync, default.rsyncssh or "
                            "default.direct: a custom layer, and inosync runs rsync itself")
    for key in CUSTOM:
        if key in table.fields:
            raise _BlockRefused(table.fields[key][0], key, "is a custom layer action, and "
                                "inosync runs rsync itself")
    for key in ("filter", "filterFrom"):
        if key in table.fields:
            raise _BlockRefused(table.fields[key][0], key, "inosync has excludes only: write "
                                "the '-' rules as exclude patterns")
    delete_line, delete = table.fields.get("delete", (0, True))
    deleting = delete_mapping(delete)
    if deleting is None:
        shown = f'"{delete}"' if isinstance(delete, str) else _lua(delete)
        raise _BlockRefused(delete_line, "delete", f"{shown} is not a value lsyncd takes - "
                            'write true, false, "startup" or "running"')
    line, wpath = _string(table, "source")
    if not wpath.startswith("/"):
        raise _BlockRefused(line, "source", f'"{wpath}" is relative - write an absolute path')
    if layer.name == "default.rsyncssh":
        _, host = _string(table, "host")
        line, targetdir = _string(table, "targetdir")
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        dest = split_destination(f"{host}:{targetdir}")
    else:
        line, target = _string(table, "target")
        dest = split_destination(target)
    if isinstance(dest, str):
        raise _BlockRefused(line, "target", dest)
    keys: dict[str, Any] = {"wpath": os.path.normpath(wpath), "rpath": dest[1],
                            "rnodes": [dest[0]]}
    excludes = _excludes(table, base, read)
    if excludes:
        keys["rexcludes"] = excludes
    keys.update(_rsync(table, got))
    if deleting.max_delete_share is not None:
        keys["max_delete_share"] = deleting.max_delete_share
    if deleting.note:
        got.note(delete_line, "delete", deleting.note)
    if deleting.warning:
        got.refuse(delete_line, "delete", deleting.warning)
    keys.update(common)
    known = ("source", "target", "host", "targetdir", "delete", "exclude", "excludeFrom",
             "rsync", "ssh", "rsyncOpts", "rsyncOps", "rsyncBinary")
    for key, (line, value) in table.fields.items():
        if key == "init":
            if value is False:
                got.note(line, key, f"dropped - {INSTEAD[key]}")
        elif key in INSTEAD:
            got.note(line, key, f"dropped - {INSTEAD[key]}")
        elif key not in known:
            got.refuse(line, key, "is not a sync{} setting inosync knows - left out")
    return Instance(instance_name(wpath), f"sync{{}} at line {block.line}", keys,
                    tuple(got.notes), tuple(got.refused))


def _lua(value: Value) -> str:
    """A value as the config wrote it (strings without quotes)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "nil"}[value]
    if isinstance(value, (str, int, float)):
        return str(value)
    return "{...}"


def _strings(value: Value, line: int, key: str) -> list[str]:
    items = [value] if isinstance(value, str) else \
        [v for _, v in value.items] if isinstance(value, Table) else [None]
    if not all(isinstance(item, str) for item in items):
        raise _BlockRefused(line, key, "must be a string or a list of strings")
    return [str(item) for item in items]


def _excludes(table: Table, base: str, read: Callable[[str], str]) -> list[str]:
    patterns = []
    if "exclude" in table.fields:
        line, value = table.fields["exclude"]
        patterns += _strings(value, line, "exclude")
    if "excludeFrom" in table.fields:
        line, path = _string(table, "excludeFrom")
        try:
            text = read(os.path.join(base, path))
        except (OSError, UnicodeDecodeError) as error:
            raise _BlockRefused(line, "excludeFrom", f'cannot read "{path}" ({error})') \
                from None
        for rule in text.splitlines():
            rule = rule.strip()
            if rule.startswith("+"):
                raise _BlockRefused(line, "excludeFrom", f'"{path}" has include rules, and '
                                    "inosync has excludes only")
            if rule and rule[0] not in "#;":
                patterns.append(rule[2:] if rule.startswith("- ") else rule)
    return patterns


def _rsync(table: Table, got: Collector) -> dict[str, Any]:
    """The keys that rsync={...} (and lsyncd 2.0's rsyncOpts, ssh={...}) come to."""
    keys: dict[str, Any] = {}
    words: list[tuple[int, str]] = []
    line, options = table.fields.get("rsync", (0, Table(0)))
    if not isinstance(options, Table):
        raise _BlockRefused(line, "rsync", "must be a table")
    for key, (line, value) in options.fields.items():
        name = f"rsync.{key}"
        if key == "binary":
            keys["rsync"] = _strings(value, line, name)[0]
        elif key == "rsh":
            keys["rsh"] = _strings(value, line, name)[0]
        elif key == "bwlimit":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _BlockRefused(line, name, "must be a whole number of KB/s")
            keys["rspeed"] = value
        elif key == "_extra":
            words += [(line, word) for word in _strings(value, line, name)]
        elif key in INSTEAD:
            got.note(line, name, f"dropped - {INSTEAD[key]}")
        elif key in IN_ARCHIVE and value is True:
            continue  # part of -a
        elif key in IN_ARCHIVE[:3] and value is False:
            words.append((line, f"--no-{key}"))
        elif key in IN_ARCHIVE:
            got.refuse(line, name, "inosync always mirrors symlinks and mtimes - left out")
        elif key in RSYNC_FLAGS and value is not False:
            flag = "--" + key.replace("_", "-")
            words.append((line, flag if value is True else f"{flag}={_lua(value)}"))
        elif key not in RSYNC_FLAGS:
            got.refuse(line, name, "is not an rsync option lsyncd knows - left out")
    for old in ("rsyncOpts", "rsyncOps"):
        if old in table.fields:
            line, value = table.fields[old]
            words += [(line, w) for w in _strings(value, line, old) if w not in ("-a", "-r")]
    if "rsyncBinary" in table.fields:
        keys["rsync"] = _string(table, "rsyncBinary")[1]
    ssh_rsh = _ssh(table)
    if ssh_rsh and "rsh" not in keys:
        keys["rsh"] = ssh_rsh
    kept = []
    for line, word in words:
        found = rsh_options([word])
        if found:
            keys.setdefault("rsh", found[0][2])
            got.note(line, "rsync._extra", f'"{word}" became rsh = "{found[0][2]}"')
        elif reason := refused_option(word):
            got.refuse(line, "rsync", f"left out: {reason.removesuffix(' - remove it')}")
        else:
            kept.append(word)
    if kept:
        keys["extra"] = shlex.join(kept)
    return keys


def _ssh(table: Table) -> str:
    """ssh={binary, port, identityFile, options={...}, _extra={...}} as an rsh command."""
    line, ssh = table.fields.get("ssh", (0, None))
    if ssh is None:
        return ""
    if not isinstance(ssh, Table):
        raise _BlockRefused(line, "ssh", "must be a table")
    fields = {key: value for key, (_, value) in ssh.fields.items()}
    words = [str(fields.get("binary") or "ssh")]
    if fields.get("port"):
        words += ["-p", _lua(fields["port"])]
    if fields.get("identityFile"):
        words += ["-i", str(fields["identityFile"])]
    options = fields.get("options")
    if isinstance(options, Table):
        for key, (_, value) in options.fields.items():
            words += ["-o", f"{key}={_lua(value)}"]
    if "_extra" in fields:
        words += _strings(fields["_extra"], line, "ssh._extra")
    return shlex.join(words)


NODE_OWN = ("rsh", "rspeed", "extra", "verify_interval")  # what a node's table may set


def _merge(instances: list[Instance]) -> list[Instance]:
    """Blocks that mirror one tree to one directory: one instance. What they set alike
    stays the instance's; what differs (rsh, rspeed, extra) goes in each node's table."""
    groups: dict[str, list[Instance]] = {}
    for instance in instances:
        rest = {k: v for k, v in instance.keys.items() if k != "rnodes" and k not in NODE_OWN}
        groups.setdefault(repr(sorted(rest.items())), []).append(instance)
    merged = []
    for group in groups.values():
        first = group[0]
        differ = [k for k in NODE_OWN if len({repr(i.keys.get(k)) for i in group}) > 1]
        keys = {k: v for k, v in first.keys.items() if k not in differ}
        nodes: list[Any] = []
        seen: set[str] = set()
        for instance in group:
            own = {k: instance.keys[k] for k in differ if k in instance.keys}
            for spec in instance.keys["rnodes"]:
                if spec not in seen:
                    seen.add(spec)
                    nodes.append({"node": spec, **own} if own else spec)
        notes = tuple(n for i in group for n in i.notes)
        if differ:
            notes += (Note(0, "rnodes", f"{', '.join(i.origin for i in group)} differ only in "
                           f"{', '.join(differ)}: one instance, each node with its own "
                           "in its table"),)
        merged.append(Instance(first.name, ", ".join(i.origin for i in group),
                               {**keys, "rnodes": nodes}, notes,
                               tuple(n for i in group for n in i.refused)))
    names = unique_names([i.name for i in merged])
    return [Instance(name, i.origin, i.keys, i.notes, i.refused) for name, i in zip(names, merged)]
