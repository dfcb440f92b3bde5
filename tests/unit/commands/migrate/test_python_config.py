"""`inosync migrate` on the older inosync's Python configs: literal assignments only."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from inosync.commands.migrate.model import Refused, Unreadable
from inosync.commands.migrate.python_config import migrate

# The older inosync's README example: several mirrors of one tree, every option commented.
README = """\
# array of directories that should be watched for changes
wpaths = ["/var/www/"]

# exclude list for rsync
rexcludes = [
\t"/localhost",
]

# rpaths has one-to-one correspondence with wpaths for syncing multiple directories
rpaths = ["/var/www/"]

# remote locations in rsync syntax
rnodes = [
\t"user1@a.mirror.com:",
\t"user2@b.mirror.com:",
\t"user3@c.mirror.com:",
]

# extra, raw parameters to rsync
#extra = "--rsh=ssh -a"

# limit remote sync speed (in KB/s, 0 = no limit)
#rspeed = 0

# event mask (only sync on these events)
#emask = [
#\t"IN_CLOSE_WRITE",
#\t"IN_CREATE",
#]

# event delay in seconds
#edelay = 10

# rsync log file for updates
#logfile = "/var/log/inosync.log"
"""

# The sample config most installs started from: two trees, a log file, the options set.
SAMPLE = """\
wpaths = ["/home/alice/site/", "/home/alice/media"]
rexcludes = [
\t"/.git",
]
rpaths = ["/srv/site", "/srv/"]
rnodes = [
\t"alice@web1.example.com:",
\t"deploy@web2.example.com:",
]
extra = "--rsh='ssh -p 2222' -a --numeric-ids"
rspeed = 500
emask = [
\t"IN_CLOSE_WRITE",
\t"IN_CREATE",
\t"IN_DELETE",
]
edelay = 10
logfile = "/var/log/inosync.log"
rsync = "/usr/bin/rsync"
pretend = True
"""


def one(text: str, name: str = "/etc/inosync/www.py") -> dict[str, Any]:
    migration = migrate(textwrap.dedent(text), name)
    assert len(migration.instances) == 1, migration
    return migration.instances[0].keys


def test_the_readme_example_becomes_one_instance_with_every_node() -> None:
    migration = migrate(README, "/etc/inosync/default.py")
    assert migration.refused == () and migration.notes == ()
    (instance,) = migration.instances
    assert instance.name == "default"
    assert instance.keys == {"wpath": "/var/www", "rpath": "/var/www",
                             "rnodes": ["user1@a.mirror.com:", "user2@b.mirror.com:",
                                        "user3@c.mirror.com:"],
                             "rexcludes": ["/localhost"]}


def test_the_sample_config_maps_every_key_and_says_why_for_the_dropped_ones() -> None:
    migration = migrate(SAMPLE, "/etc/inosync/sample_config.py")
    assert [i.name for i in migration.instances] == ["sample_config-site",
                                                     "sample_config-media"]
    site, media = (i.keys for i in migration.instances)
    assert site == {"wpath": "/home/alice/site", "rpath": "/srv/site",
                    "rnodes": ["alice@web1.example.com:", "deploy@web2.example.com:"],
                    "rexcludes": ["/.git"], "extra": "--numeric-ids", "rspeed": 500,
                    "rsync": "/usr/bin/rsync", "rsh": "ssh -p 2222",
                    "logfile": "/var/log/inosync.log"}
    # Without a trailing slash rsync put the directory itself below rpath.
    assert media["wpath"] == "/home/alice/media" and media["rpath"] == "/srv/media"
    said = {note.key: (note.line, note.text) for note in migration.notes}
    assert said["edelay"][0] == 17 and "no delay to set" in said["edelay"][1]
    assert said["emask"][0] == 12 and "replays renames" in said["emask"][1]
    assert said["pretend"][0] == 20 and "--dry-run" in said["pretend"][1]
    assert any('became rsh = "ssh -p 2222"' in n.text for n in migration.notes)
    assert migration.refused == ()


@pytest.mark.parametrize("text, expected", [
    # The oldest form: one wpath, the directory written into each node.
    ('wpath = "/var/www/"\nrnodes = ["a.mirror.com:/var/www/", "b.mirror.com:/var/www"]\n',
     {"wpath": "/var/www", "rpath": "/var/www", "rnodes": ["a.mirror.com:", "b.mirror.com:"]}),
    # The fork's form: single wpath and rpath, "" for a local mirror, the contents copied.
    ('wpath = "/home/user/www"\nrpath = "/var/lib/www"\nrnodes = ["", "u@h:"]\n'
     'rexcludes = ["*/6/*", "*.bin"]\n',
     {"wpath": "/home/user/www", "rpath": "/var/lib/www", "rnodes": ["", "u@h:"],
      "rexcludes": ["*/6/*", "*.bin"]}),
    ('wpath = "/srv/a"\nrpath = "/a"\nrnodes = "backup::mirror"\n',
     {"wpath": "/srv/a", "rpath": "/a", "rnodes": ["backup::mirror"]}),
    ('wpath = "/srv/a"\nrpath = "/a"\nrnodes = ["rsync://h:8873/mod"]\nrspeed = 0\n',
     {"wpath": "/srv/a", "rpath": "/a", "rnodes": ["rsync://h:8873/mod"]}),
    ('wpath = "/srv/a"\nrpath = "/a"\nrnodes = ["h:"]\nextra = "-e \'ssh -i /k\' -z"\n',
     {"wpath": "/srv/a", "rpath": "/a", "rnodes": ["h:"], "extra": "-z",
      "rsh": "ssh -i /k"}),
    ('"""Mirror of the uploads."""\nwpaths = ("/up/",)\nrpaths = ("/up/",)\nrnodes = ["h:"]\n'
     'logfile = None\nedelay = 0\npretend = False\n',
     {"wpath": "/up", "rpath": "/up", "rnodes": ["h:"]}),
])
def test_old_forms(text: str, expected: dict[str, Any]) -> None:
    assert one(text) == expected


def test_nodes_with_different_directories_become_one_instance_each() -> None:
    migration = migrate('wpath = "/srv/www"\nrnodes = ["a:/srv/www", "b:/var/www", "c:/srv/www"]',
                        "/etc/inosync/www.py")
    assert [(i.name, i.keys["rpath"], i.keys["rnodes"]) for i in migration.instances] == [
        ("www-www", "/srv/www", ["a:", "c:"]), ("www-www-2", "/var/www", ["b:"])]


def test_a_fork_with_excludes_per_wpath() -> None:
    migration = migrate('wpaths = ["/a/", "/b/"]\nrpaths = ["/x", "/y"]\nrnodes = ["h:"]\n'
                        'rexcludes = [["*.tmp"], ["/cache"]]\n', "m.py")
    assert [i.keys.get("rexcludes") for i in migration.instances] == [["*.tmp"], ["/cache"]]


@pytest.mark.parametrize("text, line, key, expected", [
    ('wpath = "/a"\nrpath = "/b"\nrnodes = ["h:"]\nlogfile = "log/inosync.log"\n', 4,
     "logfile", "relative to wherever the older inosync ran"),
    ('wpath = "/a"\nrpath = "/b"\nrnodes = ["h:"]\ninotify_excludes = ["x"]\n', 4,
     "inotify_excludes", "is not a key of the older inosync"),
    ('wpath = "/a"\nrpath = "/b"\nrnodes = ["h:"]\nextra = "--delete-excluded -z"\n', 4,
     "extra", '"--delete-excluded" would delete excluded files'),
    ('wpath = "/a"\nrpath = "/b"\nrnodes = ["h:"]\nrspeed = "fast"\n', 4, "rspeed",
     "not a whole number"),
    ('wpaths = ["/a", "/b"]\nrpaths = ["/x", "/y", "/z"]\nrnodes = ["h:"]\n', 2, "rpaths",
     "3 rpaths for 2 wpaths"),
    ('wpath = "/a"\nrnodes = ["h:"]\n', 2, "rnodes", "relative to the login's home"),
    ('wpath = "/a"\nrnodes = ["backup/"]\n', 2, "rnodes", "is a relative path"),
])
def test_what_cannot_be_carried_over_is_refused_with_its_line(text: str, line: int, key: str,
                                                              expected: str) -> None:
    refused = migrate(text, "www.py").refused
    assert any(n.line == line and n.key == key and expected in n.text for n in refused), refused


@pytest.mark.parametrize("text, lines, expected", [
    ('import os\nwpath = "/a"\n', [1], "an import is code"),
    ('wpath = "/a"\nos.system("rm -rf /srv")\n', [2], "a function call is code"),
    ('rpath = "/var/www/"\nrnodes = [\n  "a.mirror.com:" + rpath,\n]\n', [3],
     '"a.mirror.com:" + rpath is an expression'),
    ('wpath = WPATH\n', [1], "WPATH is a variable"),
    ('wpath = os.path.dirname(__file__)\n', [1], "is a function call"),
    ('wpath = f"/srv/{name}"\n', [1], "is an f-string"),
    ('def wpath():\n    return "/a"\n', [1], "a function is code"),
    ('for n in range(3):\n    pass\nwpath = "/a"\nrnodes += ["x:"]\n', [1, 4], "is code"),
])
def test_code_is_refused_whole_with_each_line(text: str, lines: list[int],
                                              expected: str) -> None:
    with pytest.raises(Refused) as caught:
        migrate(text, "www.py")
    assert [n.line for n in caught.value.notes] == lines
    assert expected in caught.value.notes[0].text
    assert "never runs the file" in caught.value.notes[0].text


def test_the_file_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f'open({str(marker)!r}, "w").close()\nwpath = "/a"\n'
    with pytest.raises(Refused):
        migrate(text, "www.py")
    assert not marker.exists()


def test_python_that_does_not_parse_is_unreadable_with_its_line() -> None:
    with pytest.raises(Unreadable) as caught:
        migrate('wpath = "/a"\nprint "hello"\n', "www.py")
    assert caught.value.notes[0].line == 2 and "is not a Python config" in \
        caught.value.notes[0].text
