"""`inosync migrate` on lsyncd's Lua configs: table literals only, code refused by line."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from inosync.commands.migrate.lsyncd import migrate
from inosync.commands.migrate.lua import Ref, read_blocks, tokenize
from inosync.commands.migrate.model import Migration, Refused, Unreadable


def run(text: str, source: str = "/etc/lsyncd/lsyncd.conf.lua") -> Migration:
    return migrate(textwrap.dedent(text), source)


def keys(text: str) -> list[dict[str, Any]]:
    return [instance.keys for instance in run(text).instances]


# lsyncd's manual (layer 4): the smallest config, and the rsync={...} example.
@pytest.mark.parametrize("text, expected", [
    ('sync {\n   default.rsync,\n   source = "/srv/src",\n   target = "/srv/trg"\n}\n',
     [{"wpath": "/srv/src", "rpath": "/srv/trg", "rnodes": [""]}]),
    ('''sync {
        default.rsync,
        source    = "/home/user/src/",
        target    = "foohost.com:/home/user/trg/",
        delay     = 15,
        rsync     = {
            binary   = "/usr/local/bin/rsync",
            archive  = true,
            compress = true
        }
    }''', [{"wpath": "/home/user/src", "rpath": "/home/user/trg", "rnodes": ["foohost.com:"],
            "rsync": "/usr/local/bin/rsync", "extra": "--compress"}]),
    ('sync{default.rsyncssh, source="/srv/www", host="deploy@web1", targetdir="/srv/www"}',
     [{"wpath": "/srv/www", "rpath": "/srv/www", "rnodes": ["deploy@web1:"]}]),
    ('sync({default.direct, source="/a", target="/b/"})',
     [{"wpath": "/a", "rpath": "/b", "rnodes": [""]}]),
    ('sync{default.rsync, source="/a", target="backup::mirror/a", delete=true}',
     [{"wpath": "/a", "rpath": "/a", "rnodes": ["backup::mirror"]}]),
    ('sync{default.rsyncssh, source="/a", host="::1", targetdir="/b"}',
     [{"wpath": "/a", "rpath": "/b", "rnodes": ["[::1]:"]}]),
])
def test_manual_forms(text: str, expected: list[dict[str, Any]]) -> None:
    assert keys(text) == expected


# A typical production file: settings, two hosts of one tree (merged), a second tree.
FULL = """\
settings {
    logfile    = "/var/log/lsyncd/lsyncd.log",
    statusFile = "/var/log/lsyncd/lsyncd.status",
    statusInterval = 20,
    maxProcesses = 2,
    nodaemon   = false,
}

-- web content to both front ends
sync {
    default.rsyncssh,
    source    = "/var/www/html",
    host      = "deploy@web1.example.com",
    targetdir = "/var/www/html",
    delay     = 1,
    exclude   = { "*.swp", "/cache/" },
    rsync = {
        archive  = true,
        compress = true,
        bwlimit  = 2000,
        _extra   = { "--omit-dir-times", "--delete-excluded" },
    },
    ssh = {
        port = 2222,
        identityFile = "/etc/lsyncd/id_ed25519",
        options = { StrictHostKeyChecking = "no" },
    },
}
sync {
    default.rsyncssh,
    source    = "/var/www/html",
    host      = "deploy@web2.example.com",
    targetdir = "/var/www/html",
    delay     = 1,
    exclude   = { "*.swp", "/cache/" },
    rsync = {
        archive  = true,
        compress = true,
        bwlimit  = 2000,
        _extra   = { "--omit-dir-times", "--delete-excluded" },
    },
    ssh = {
        port = 2222,
        identityFile = "/etc/lsyncd/id_ed25519",
        options = { StrictHostKeyChecking = "no" },
    },
}
sync {
    default.rsync,
    source = "/srv/uploads/",
    target = "backup.example.com:/srv/uploads",
    init   = false,
    rsync  = { owner = false, group = false, checksum = true, rsh = "/usr/bin/ssh -p 22" },
}
"""


def test_a_full_config_with_settings_and_several_blocks() -> None:
    migration = run(FULL)
    www, uploads = migration.instances
    assert www.name == "html" and www.origin == "sync{} at line 10, sync{} at line 29"
    assert www.keys == {
        "wpath": "/var/www/html", "rpath": "/var/www/html",
        "rnodes": ["deploy@web1.example.com:", "deploy@web2.example.com:"],
        "rexcludes": ["*.swp", "/cache/"], "rspeed": 2000,
        "rsh": "ssh -p 2222 -i /etc/lsyncd/id_ed25519 -o StrictHostKeyChecking=no",
        "extra": "--compress --omit-dir-times"}
    assert uploads.name == "uploads" and uploads.keys == {
        "wpath": "/srv/uploads", "rpath": "/srv/uploads", "rnodes": ["backup.example.com:"],
        "rsh": "/usr/bin/ssh -p 22", "extra": "--no-owner --no-group --checksum"}
    settings = {n.key: n for n in migration.notes}
    assert settings["settings.logfile"].line == 2 and "journal" in settings["settings.logfile"].text
    assert "systemctl status" in settings["settings.statusFile"].text
    assert {"settings.statusInterval", "settings.maxProcesses", "settings.nodaemon"} <= \
        set(settings)
    delay = [n for n in www.notes if n.key == "delay"]
    assert [n.line for n in delay] == [15, 34] and "fraction of a second" in delay[0].text
    assert [(n.line, n.key) for n in uploads.notes] == [(52, "init")]
    assert [(n.line, n.key) for n in www.refused] == [(21, "rsync"), (40, "rsync")]
    assert "--delete-excluded" in www.refused[0].text


def test_settings_forms_and_log_level() -> None:
    for form in ('settings { log = "scarce" }', 'settings({ log = "scarce" })',
                 'settings = { log = "scarce" }'):
        (instance,) = run(form + '\nsync{default.rsync, source="/a", target="/b"}').instances
        assert instance.keys["log_level"] == "warning"


def test_exclude_from_reads_the_patterns(tmp_path: Path) -> None:
    excludes = tmp_path / "excludes.txt"
    excludes.write_text("# caches\n*.tmp\n\n; old\n- /cache/\n.git\n")
    text = f'sync{{default.rsync, source="/a", target="/b", excludeFrom="{excludes}",\n' \
        'exclude = "*.swp"}'
    assert keys(text)[0]["rexcludes"] == ["*.swp", "*.tmp", "/cache/", ".git"]
    relative = migrate('sync{default.rsync, source="/a", target="/b", '
                       'excludeFrom="excludes.txt"}', str(tmp_path / "lsyncd.conf.lua"))
    assert relative.instances[0].keys["rexcludes"] == ["*.tmp", "/cache/", ".git"]


@pytest.mark.parametrize("text, line, key, expected", [
    ('sync{default.rsync,\nsource="/a",\ntarget="/b",\ndelete="yes"}', 4, "delete",
     '"yes" is not a value lsyncd takes - write true, false, "startup" or "running"'),
    ('sync{default.rsync, source="/a", target="/b", delete=1}', 1, "delete",
     "1 is not a value lsyncd takes"),
    ('sync{default.rsync, source="/a", target="/b", delete="true"}', 1, "delete",
     '"true" is not a value'),
    ('sync{default.rsync, source="/home/user/src/", target="foohost.com:~/trg/"}', 1, "target",
     "relative to the login's home"),
    ('sync{default.rsync, source="/a", target="backup::mirror"}', 1, "target",
     "root of the node or module"),
    ('sync{default.rsync, source="src", target="/b"}', 1, "source", "is relative"),
    ('sync{default.rsync, source="/a"}', 1, "target", "is missing"),
    ('sync{default.rsync, source="/a", target="/b",\n onCreate = "cp -r ^sourcePathname '
     '^targetPathname"}', 2, "onCreate", "custom layer"),
    ('sync{source="/a", target="/b"}', 1, "", "custom layer"),
    ('sync{default.rsync, source="/a", target="/b", filter={"- *.tmp"}}', 1, "filter",
     "excludes only"),
    ('sync{default.rsync, source="/a", target="/b", excludeFrom="/nonexistent/x"}', 1,
     "excludeFrom", 'cannot read "/nonexistent/x"'),
])
def test_blocks_inosync_cannot_keep_are_refused_with_their_line(text: str, line: int, key: str,
                                                                expected: str) -> None:
    migration = run(text)
    assert migration.instances == ()
    (note,) = migration.refused
    assert (note.line, note.key) == (line, key) and expected in note.text, note
    assert "not migrated" in note.text


@pytest.mark.parametrize("text, line, key, expected", [
    ('settings{ colour = "blue" }\nsync{default.rsync, source="/a", target="/b"}', 1,
     "settings.colour", "left out"),
    ('sync{default.rsync, source="/a", target="/b",\n rsync={times=false}}', 2, "rsync.times",
     "mtimes"),
    ('sync{default.rsync, source="/a", target="/b",\n rsync={copy_links=true}}', 2, "rsync",
     '"--copy-links"'),
    ('sync{default.rsync, source="/a", target="/b",\n rsync={frobnicate=true}}', 2,
     "rsync.frobnicate", "not an rsync option"),
])
def test_settings_left_out_are_named_and_the_rest_migrated(text: str, line: int, key: str,
                                                           expected: str) -> None:
    migration = run(text)
    assert len(migration.instances) == 1
    refused = list(migration.refused) + list(migration.instances[0].refused)
    assert any((n.line, n.key) == (line, key) and expected in n.text for n in refused), refused


@pytest.mark.parametrize("text, lines, expected", [
    ('function onCreate(event)\n  spawn(event, "/bin/true")\nend\n', [1], "a function"),
    ('local src = "/var/www"\nsync{default.rsync, source=src, target="/b"}\n', [1, 2],
     "a local variable"),
    ('sync{default.rsync, source="/var/" .. "www", target="/b"}', [1],
     "string concatenation"),
    ('servers = {"a", "b"}\nfor _, s in ipairs(servers) do\n'
     '  sync{default.rsync, source="/a", target=s .. ":/a"}\nend\n', [1, 2], "a variable"),
    ('os.execute("rm -rf /srv")\nsync{default.rsync, source="/a", target="/b"}', [1],
     "a call to os.execute"),
    ('settings{ logfile = os.getenv("HOME") .. "/l" }', [1], "a call to os.getenv"),
    ('sync{default.rsync, source="/a", target="/b",\n  onCreate = function(e) end }', [2],
     "a function"),
    ('sync{mylayer, source="/a", target="/b"}', [1], "a variable (mylayer)"),
    ('sync{default.rsync, source="/a", target="/b", [1+1] = 2}', [1], "a computed key"),
])
def test_code_is_refused_whole_with_each_line(text: str, lines: list[int],
                                              expected: str) -> None:
    with pytest.raises(Refused) as caught:
        run(text)
    assert [n.line for n in caught.value.notes] == lines, caught.value.notes
    assert expected in caught.value.notes[0].text
    assert "never runs the file" in caught.value.notes[0].text


@pytest.mark.parametrize("text, line", [
    ('sync{default.rsync, source="/a}\n', 1),
    ('\n\nsettings{ logfile = [[/var/log/x }\n', 3),
    ('sync{default.rsync, source="/a\\q"}', 1),
])
def test_unfinished_strings_are_unreadable(text: str, line: int) -> None:
    with pytest.raises(Unreadable) as caught:
        read_blocks(text)
    assert caught.value.notes[0].line == line


def test_strings_comments_and_numbers() -> None:
    text = ('--[==[ a long\ncomment ]==] sync { default.rsync, -- note\n'
            "source = '/it\\'s\\tx\\65', target = [[\n/b]], delay = -0.5, n = 0x1F,\n"
            'big = 1e3, s = "\\z\n     y" }')
    (block,) = read_blocks(text)
    assert block.line == 2
    fields = {key: value for key, (_, value) in block.table.fields.items()}
    assert fields == {"source": "/it's\txA", "target": "/b", "delay": -0.5, "n": 31,
                      "big": 1000.0, "s": "y"}
    assert block.table.items == [(2, Ref("default.rsync"))]
    assert block.table.fields["delay"][0] == 4
    assert [t.kind for t in tokenize("a.b")] == ["name", "op", "name", "end"]


def test_blocks_that_differ_only_in_node_settings_become_one_instance_with_tables() -> None:
    import tomllib

    from inosync.commands.migrate.command import render
    from inosync.config.load import validate
    migration = run('''
        sync { default.rsyncssh, source = "/srv/www", host = "deploy@web1", targetdir = "/srv/www" }
        sync { default.rsyncssh, source = "/srv/www", host = "deploy@far", targetdir = "/srv/www",
               rsync = { bwlimit = 2000 }, ssh = { port = 2222 } }
        sync { default.rsyncssh, source = "/srv/logs", host = "deploy@far", targetdir = "/logs",
               rsync = { bwlimit = 10 } }
    ''')
    www, logs = migration.instances
    assert www.keys["rnodes"] == [
        "deploy@web1:", {"node": "deploy@far:", "rsh": "ssh -p 2222", "rspeed": 2000}]
    assert "rspeed" not in www.keys and "rsh" not in www.keys
    assert any("differ only in rsh, rspeed" in note.text for note in www.notes)
    assert logs.keys["rspeed"] == 10 and logs.keys["rnodes"] == ["deploy@far:"]
    text = render(www, "/etc/lsyncd/lsyncd.conf.lua", "/etc/inosync/www.toml")
    cfg = validate(tomllib.loads(text), "www.toml", exists=lambda p: True)
    far = cfg.for_node(cfg.nodes[1])
    assert (far.rspeed, far.rsh) == (2000, ("ssh", "-p", "2222"))
    assert cfg.for_node(cfg.nodes[0]).rspeed == 0
