"""`inosync migrate OLD`: write inosync configs from an older inosync's or lsyncd's config.

The input is read as data and never run. Each instance is written as NAME.toml, checked
with the same validation `inosync check` uses, and never over an existing file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import textwrap
from typing import Any

from inosync import exitcodes
from inosync.commands.migrate import lsyncd as migrate_lsyncd
from inosync.commands.migrate import python_config as migrate_py
from inosync.commands.migrate.model import Instance, Migration, Note, Refused, Unreadable
from inosync.config.load import ConfigError, load, validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on old Pythons
    import tomli as tomllib

SERVICE_DIR = "/etc/inosync"
COMMENT_WIDTH = 86  # a note as comment lines: "# " and this fit 88 columns
_LUA_BLOCK = re.compile(r"^\s*(sync|settings)\s*[{(=]", re.MULTILINE)


def toml_value(value: Any) -> str:
    """A string, number, boolean or list of them as TOML (a JSON string is a TOML string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dict):  # a node's table in rnodes
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


def render(instance: Instance, source: str, path: str, shared: tuple[Note, ...] = ()) -> str:
    """The TOML text of one instance, with where it came from and what changed on the way."""
    lines = [f"# Written by inosync migrate from {os.path.abspath(source)} "
             f"({instance.origin}).",
             f"# See inosync.toml(5); test it with: inosync check -c {path}"]
    for note in sorted(shared + instance.notes + instance.refused, key=lambda n: n.line):
        comment = re.sub(r"[\x00-\x1f\x7f]", "?", note.render(os.path.basename(source)))
        lines += ["# " + part for part in textwrap.wrap(
            comment, COMMENT_WIDTH, subsequent_indent="  ", break_long_words=False,
            break_on_hyphens=False)]
    lines += [f"{key} = {toml_value(value)}" for key, value in instance.keys.items()]
    return "\n".join(lines) + "\n"


def is_lua(path: str, text: str) -> bool:
    if path.endswith(".py"):
        return False
    return path.endswith(".lua") or bool(_LUA_BLOCK.search(text))


def read_input(path: str, text: str) -> Migration:
    """The instances an old config describes; Unreadable or Refused when there are none."""
    if is_lua(path, text):
        return migrate_lsyncd.migrate(text, path)
    return migrate_py.migrate(text, path)


def write_new(path: str, text: str) -> bool:
    """Write `text` to `path` unless something is there already (atomically, via link)."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".migrate-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


def _say(lines: list[str], error: bool = False) -> None:
    for line in lines:
        print(line, file=sys.stderr if error else sys.stdout)


def write_instance(instance: Instance, source: str, out_dir: str,
                   shared: tuple[Note, ...] = ()) -> tuple[bool, int]:
    """Validate, write and re-check one instance; print what happened.

    Returns whether the file was written, and exitcodes.OK or exitcodes.REFUSED.
    """
    path = os.path.join(out_dir, instance.name + ".toml")
    text = render(instance, source, path, shared)
    try:
        validate(tomllib.loads(text), path, exists=lambda _: True)
    except ConfigError as error:
        _say([f"{source}: {instance.origin}: not written, {path} would not be valid:",
              *("  " + p for p in error.problems)], error=True)
        return False, exitcodes.REFUSED
    try:
        written = write_new(path, text)
    except OSError as error:
        _say([f"{path}: cannot write it ({error.strerror})"], error=True)
        return False, exitcodes.REFUSED
    if not written:
        _say([f"{path}: exists - left alone; move it away or use --out-dir to write "
              f"{instance.name}.toml elsewhere"], error=True)
        return False, exitcodes.REFUSED
    status = exitcodes.REFUSED if instance.refused else exitcodes.OK
    _say([f"{path}: written from {instance.origin}"])
    try:
        load(path)
    except ConfigError as error:
        _say([f"{path}: written, but: {p.split(': ', 1)[-1]}" for p in error.problems],
             error=True)
        status = exitcodes.REFUSED
    if os.path.abspath(out_dir) != SERVICE_DIR:
        _say([f"  cp {path} {SERVICE_DIR}/ && systemctl enable --now inosync@{instance.name}"])
    else:
        _say([f"  systemctl enable --now inosync@{instance.name}"])
    return True, status


def migrate_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="inosync migrate", epilog=exitcodes.epilog("migrate"),
        description="Write inosync configs (one TOML per mirrored "
        "tree) from an older inosync config (.py) or an lsyncd config (.lua), without "
        "running it.")
    parser.add_argument("old", metavar="OLD", help="e.g. /etc/inosync/default.py or "
                        "/etc/lsyncd/lsyncd.conf.lua")
    parser.add_argument("--out-dir", default=SERVICE_DIR, metavar="DIR",
                        help=f"where NAME.toml files go (default {SERVICE_DIR})")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and exitcodes.USAGE
    source: str = options.old
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        _say([f"{source}: cannot read it ({error.strerror})"], error=True)
        return exitcodes.CONFIG
    except UnicodeDecodeError:
        _say([f"{source}: is not UTF-8 text - convert it first (iconv)"], error=True)
        return exitcodes.CONFIG
    try:
        migration = read_input(source, text)
    except Unreadable as error:
        _say([note.render(source) for note in error.notes], error=True)
        return exitcodes.CONFIG
    except Refused as error:
        _say([note.render(source) for note in error.notes] +
             [f"{source}: nothing written"], error=True)
        return exitcodes.REFUSED
    return _write_all(migration, source, options.out_dir)


def _write_all(migration: Migration, source: str, out_dir: str) -> int:
    notes: list[Note] = list(migration.notes)
    for instance in migration.instances:
        notes += instance.notes
    _say([n.render(source) for n in sorted(notes, key=lambda n: n.line)])
    refused: list[Note] = list(migration.refused)
    for instance in migration.instances:
        refused += instance.refused
    _say([n.render(source) for n in sorted(refused, key=lambda n: n.line)], error=True)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        _say([f"{out_dir}: cannot create it ({error.strerror})"], error=True)
        return exitcodes.REFUSED
    shared = migration.notes + migration.refused
    results = [write_instance(instance, source, out_dir, shared)
               for instance in migration.instances]
    if not any(written for written, _ in results):
        _say([f"{source}: nothing written"], error=True)
        return exitcodes.REFUSED
    if migration.refused or any(status != exitcodes.OK for _, status in results):
        return exitcodes.REFUSED
    return exitcodes.OK
