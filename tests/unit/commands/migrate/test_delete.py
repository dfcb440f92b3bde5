"""lsyncd's `delete` values: every sync{} is migrated, each value to the nearest safe behaviour."""

from __future__ import annotations

import sys
import textwrap

import pytest

from inosync.commands.migrate.command import render
from inosync.commands.migrate.lsyncd import migrate
from inosync.commands.migrate.model import Migration
from inosync.config.load import validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def run(text: str) -> Migration:
    return migrate(textwrap.dedent(text), "/etc/lsyncd/lsyncd.conf.lua")


BASE = {"wpath": "/srv/www", "rpath": "/srv/www", "rnodes": ["web1:"]}


# value as written -> max_delete_share written (None: left at the default), what the note
# says (stdout and comments), what the warning says (stderr, exit 1).
@pytest.mark.parametrize("value, share, note, warning", [
    ("true", None, None, None),
    ("nil", None, None, None),
    (None, None, None, None),  # no delete key: lsyncd's default, true
    ('"startup"', None, ["became inosync's default", "all or nothing", "max_delete_share (0.5)",
                         "deleted on the node at once, not at the next start"], None),
    ('"running"', 0, ["became max_delete_share = 0", "deleted on the node, as in lsyncd",
                      "full syncs (at start, after a reload or lost events",
                      "delete nothing on the node", '"deletions refused"'], None),
    ("false", 0, ["became max_delete_share = 0, the nearest inosync has",
                  "delete nothing on the node", '"deletions refused"',
                  "while inosync runs (and the old name of a rename) is deleted on the node "
                  "too", "--max-delete=0 in extra would fail every such sync"],
     ["false is not kept", "may lose what the source deletes", "backup tool"]),
])
def test_each_delete_value_is_migrated_with_the_difference_said(
        value: str | None, share: int | None, note: list[str] | None,
        warning: list[str] | None) -> None:
    setting = "" if value is None else f",\n  delete = {value}"
    migration = run(f'sync {{ default.rsyncssh, source = "/srv/www", host = "web1",\n'
                    f'  targetdir = "/srv/www"{setting} }}\n')
    assert migration.refused == ()
    (instance,) = migration.instances
    expected = dict(BASE) if share is None else {**BASE, "max_delete_share": share}
    assert instance.keys == expected
    notes = [n for n in instance.notes if n.key == "delete"]
    warnings = [n for n in instance.refused if n.key == "delete"]
    assert [n.line for n in notes] == ([] if note is None else [3])
    assert [n.line for n in warnings] == ([] if warning is None else [3])
    for (got, wanted) in ((notes, note), (warnings, warning)):
        for part in wanted or []:
            assert part in got[0].text, got[0].text
    text = render(instance, "/etc/lsyncd/lsyncd.conf.lua", "/etc/inosync/www.toml")
    assert tomllib.loads(text) == expected
    validate(tomllib.loads(text), "www.toml", exists=lambda path: True)
    comments = " ".join(line[2:].strip() for line in text.splitlines()
                        if line.startswith("#"))
    for part in (note or []) + (warning or []):
        assert part in comments, text
    assert all(len(line) <= 88 for line in text.splitlines()), text


TWO_BLOCKS = """\
settings { logfile = "/var/log/lsyncd/lsyncd.log" }
sync { default.rsync, source = "/srv/www", target = "/backup/www", delete = "running" }
sync { default.rsyncssh, source = "/var/log/app", host = "logs@archive",
       targetdir = "/srv/archive/app", delete = false }
"""


def test_a_two_block_config_becomes_two_instances() -> None:
    migration = run(TWO_BLOCKS)
    assert migration.refused == ()
    assert [(i.name, i.origin, i.keys) for i in migration.instances] == [
        ("www", "sync{} at line 2",
         {"wpath": "/srv/www", "rpath": "/backup/www", "rnodes": [""], "max_delete_share": 0}),
        ("app", "sync{} at line 3",
         {"wpath": "/var/log/app", "rpath": "/srv/archive/app", "rnodes": ["logs@archive:"],
          "max_delete_share": 0})]
    www, app = migration.instances
    assert [(n.line, n.key) for n in www.notes] == [(2, "delete")] and www.refused == ()
    assert [(n.line, n.key) for n in app.notes] == [(4, "delete")]
    assert [(n.line, n.key) for n in app.refused] == [(4, "delete")]


def test_blocks_of_one_tree_with_different_delete_values_stay_apart() -> None:
    # One file per behaviour: merging them would give one host the other's deletions.
    migration = run("""\
        sync { default.rsyncssh, source = "/srv/www", host = "web1", targetdir = "/srv/www" }
        sync { default.rsyncssh, source = "/srv/www", host = "web2", targetdir = "/srv/www",
               delete = "running" }
        sync { default.rsyncssh, source = "/srv/www", host = "web3", targetdir = "/srv/www",
               delete = "startup" }
        """)
    assert [(i.name, i.keys["rnodes"], i.keys.get("max_delete_share"))
            for i in migration.instances] == [("www", ["web1:", "web3:"], None),
                                              ("www-2", ["web2:"], 0)]
    # The merged file carries web3's note: "startup" is the default, said so there.
    assert [n.line for n in migration.instances[0].notes] == [5]
