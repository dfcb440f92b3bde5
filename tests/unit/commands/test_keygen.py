"""inosync keygen's lines: the forced command, from=, and the rsh that uses the key."""

from __future__ import annotations

import pytest

from inosync.commands import keygen
from inosync.config.load import validate

PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample inosync-www@src\n"


@pytest.mark.parametrize("rpath, expected", [
    ("/srv/www", 'command="rrsync /srv/www",restrict'),
    ("/srv/my www", "command=\"rrsync '/srv/my www'\",restrict"),
    ('/srv/a"b', 'command="rrsync \'/srv/a\\"b\'",restrict'),
])
def test_the_forced_command_confines_the_key_to_rpath(rpath: str, expected: str) -> None:
    assert keygen.forced_command(rpath) == expected


def test_the_authorized_keys_line_is_exact() -> None:
    assert keygen.authorized_line("/srv/www", PUB) == (
        'command="rrsync /srv/www",restrict ' + PUB.strip())
    assert keygen.authorized_line("/srv/www", PUB, "192.0.2.10,2001:db8::10") == (
        'command="rrsync /srv/www",restrict,from="192.0.2.10,2001:db8::10" ' + PUB.strip())


@pytest.mark.parametrize("rsh, expected", [
    (("ssh",), "ssh -i /etc/inosync/www.key"),
    (("ssh", "-p", "2222"), "ssh -p 2222 -i /etc/inosync/www.key"),
    (("ssh", "-i", "/old/key", "-p", "2222"), "ssh -p 2222 -i /etc/inosync/www.key"),
    (("ssh", "-i/old/key"), "ssh -i /etc/inosync/www.key"),
])
def test_the_rsh_line_uses_the_new_key(rsh: tuple[str, ...], expected: str) -> None:
    assert keygen.rsh_with_key(rsh, "/etc/inosync/www.key") == expected


def test_one_line_per_ssh_node_and_a_note_for_the_others() -> None:
    cfg = validate({"wpath": "/src", "rpath": "/srv/www",
                    "rnodes": ["deploy@web1:", "web2:", "backup::www", ""]},
                   "/etc/inosync/www.toml", exists=lambda path: True)
    lines = keygen.node_lines(cfg, PUB, "/etc/inosync/www.key")
    keys = [ln for ln in lines if ln.startswith("command=")]
    assert len(keys) == 2
    assert "~deploy/.ssh/authorized_keys on web1" in lines[0]
    assert any("backup::www: an rsync daemon: no ssh key" in ln for ln in lines)
    assert lines[-1] == 'rsh = "ssh -i /etc/inosync/www.key"'
