"""Naming an unknown or changed host key as the cause of an ssh failure, and the fix."""

from __future__ import annotations

import pytest

from inosync.commands.check.host_keys import (
    CHANGED,
    UNKNOWN,
    host_key_advice,
    host_key_failure,
    known_hosts_file,
    ssh_settings,
)

CHANGED_MESSAGE = """@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.
Host key verification failed."""


@pytest.mark.parametrize("message, expected", [
    ("No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict "
     "checking.\r\nHost key verification failed.\r\n", UNKNOWN),
    ("No ECDSA host key is known for web1 and you have requested strict checking.", UNKNOWN),
    ("Host key verification failed.", UNKNOWN),
    (CHANGED_MESSAGE, CHANGED),
    ("ssh: connect to host web1 port 22: Connection refused", ""),
    ("root@127.0.0.1: Permission denied (publickey).", ""),
    ("ssh: Could not resolve hostname web9: Name or service not known", ""),
    ("", ""),
])
def test_ssh_host_key_messages_are_recognised(message: str, expected: str) -> None:
    assert host_key_failure(message) == expected


SSH_G = """user deploy
hostname 127.0.0.1
port 2222
userknownhostsfile /root/.ssh/known_hosts /root/.ssh/known_hosts2
globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2
"""


@pytest.mark.parametrize("output, home, expected", [
    (SSH_G, "/root", "/root/.ssh/known_hosts"),
    ("userknownhostsfile ~/.ssh/known_hosts ~/.ssh/known_hosts2\n", "/var/lib/inosync",
     "/var/lib/inosync/.ssh/known_hosts"),
    ("userknownhostsfile /etc/inosync/known_hosts\n", "/root", "/etc/inosync/known_hosts"),
    ("", "/root", "/root/.ssh/known_hosts"),
])
def test_the_known_hosts_file_is_the_first_one_ssh_reads(
        output: str, home: str, expected: str) -> None:
    assert known_hosts_file(ssh_settings(output), home) == expected


def test_an_unknown_key_names_the_cause_the_file_and_the_keyscan_line() -> None:
    line = host_key_advice("deploy@web1:", UNKNOWN, ssh_settings(SSH_G),
                           "/root/.ssh/known_hosts", "root")
    assert line.startswith("node 'deploy@web1:': ssh does not know the host key of "
                           "[127.0.0.1]:2222")
    assert "BatchMode=yes" in line
    assert "known_hosts file inosync's ssh reads as root" in line
    assert "ssh-keyscan -p 2222 127.0.0.1 >> /root/.ssh/known_hosts" in line
    assert "ssh-keygen -lf /root/.ssh/known_hosts -F '[127.0.0.1]:2222'" in line


def test_port_22_is_left_out_of_the_keyscan_line() -> None:
    settings = ssh_settings("hostname web1.example.org\nport 22\n")
    line = host_key_advice("deploy@web1:", UNKNOWN, settings, "/root/.ssh/known_hosts", "root")
    assert "ssh-keyscan web1.example.org >> /root/.ssh/known_hosts" in line


def test_a_changed_key_says_to_replace_it_only_after_a_reinstall() -> None:
    line = host_key_advice("deploy@web1:", CHANGED, ssh_settings(SSH_G),
                           "/root/.ssh/known_hosts", "root")
    assert "is not the one in /root/.ssh/known_hosts" in line
    assert "only then" in line
    assert ("ssh-keygen -f /root/.ssh/known_hosts -R '[127.0.0.1]:2222' && "
            "ssh-keyscan -p 2222 127.0.0.1 >> /root/.ssh/known_hosts") in line
