"""Finding where a down node listens, and when to look it up again, as tables."""

from __future__ import annotations

import socket

import pytest

from inosync.node.reach import (
    LOOKUP_INTERVAL,
    SocketAddress,
    daemon_address,
    lookup_command,
    lookup_due,
    numeric_address,
    parse_lookup,
    parse_ssh_config,
    ssh_config_command,
)

T = 1000.0  # when the last lookup ended


@pytest.mark.parametrize("now, looked_up_at, answered, probe_failed, due", [
    (T, None, False, False, True),  # never looked up: now
    (T + 1, T, True, False, False),  # an answer, and the probes agree: kept
    (T + 10 * LOOKUP_INTERVAL, T, True, False, False),  # however old
    (T + 1, T, True, True, False),  # a probe failed: the node may have moved, but not yet
    (T + LOOKUP_INTERVAL - 0.1, T, True, True, False),
    (T + LOOKUP_INTERVAL, T, True, True, True),  # ... once a minute at most
    (T + 1, T, False, False, False),  # the lookup gave nothing (DNS down): not again at once
    (T + LOOKUP_INTERVAL, T, False, False, True),  # a minute later
])
def test_a_node_is_looked_up_first_then_at_most_once_a_minute_and_only_when_in_doubt(
        now: float, looked_up_at: float | None, answered: bool, probe_failed: bool,
        due: bool) -> None:
    assert lookup_due(now, looked_up_at, answered, probe_failed) is due


@pytest.mark.parametrize("output, expected", [
    (b"2 192.0.2.7 22\n2 192.0.2.8 22\n", SocketAddress(socket.AF_INET, ("192.0.2.7", 22))),
    (b"10 2001:db8::1 873 0 0\n", SocketAddress(socket.AF_INET6, ("2001:db8::1", 873, 0, 0))),
    (b"10 fe80::1 22 0 3\n", SocketAddress(socket.AF_INET6, ("fe80::1", 22, 0, 3))),
    (b"", None),  # the child was killed, or found nothing
    (b"Traceback (most recent call last):\n", None),
    (b"2 192.0.2.7\n10 ::1 22 0 0\n", SocketAddress(socket.AF_INET6, ("::1", 22, 0, 0))),
])
def test_the_lookup_childs_first_usable_address_is_taken(
        output: bytes, expected: SocketAddress | None) -> None:
    assert parse_lookup(output) == expected


@pytest.mark.parametrize("host, expected", [
    ("192.0.2.7", SocketAddress(socket.AF_INET, ("192.0.2.7", 22))),
    ("::1", SocketAddress(socket.AF_INET6, ("::1", 22, 0, 0))),
    ("web1", None),  # a name: only a lookup child may resolve it
    ("down.invalid.example", None),
    ("192.0.2.300", None),
    ("", None),
])
def test_an_ip_address_as_written_needs_no_lookup(host: str,
                                                  expected: SocketAddress | None) -> None:
    assert numeric_address(host, 22) == expected


def test_the_lookup_child_gets_the_host_as_one_argument_and_no_environment() -> None:
    argv = lookup_command("-oops host", 22, python="/usr/bin/python3").argv
    assert argv[:4] == ("/usr/bin/python3", "-I", "-S", "-c")
    assert argv[-2:] == ("-oops host", "22")
    assert ssh_config_command(("ssh", "-p", "2222"), "deploy@web1").argv == (
        "ssh", "-p", "2222", "-G", "deploy@web1")


@pytest.mark.parametrize("output, expected", [
    ("user deploy\nhostname web1.example.com\nport 2222\n", ("web1.example.com", 2222)),
    ("hostname web1\n", ("web1", 22)),
    ("hostname web1\nport 22\nproxyjump bastion\n", None),  # the port we see is not the node's
    ("hostname web1\nproxycommand nc %h %p\n", None),
    ("hostname web1\nproxycommand none\n", ("web1", 22)),
    ("", None),
])
def test_ssh_config_says_where_ssh_would_connect(output: str,
                                                 expected: tuple[str, int] | None) -> None:
    assert parse_ssh_config(output) == expected


@pytest.mark.parametrize("spec, extra, expected", [
    ("backup::www", (), ("backup", 873)),
    ("user@backup::www", ("--port=8873",), ("backup", 8873)),
    ("rsync://backup:8730/www", (), ("backup", 8730)),
    ("rsync://[::1]/www", (), ("::1", 873)),
])
def test_an_rsync_daemons_address_comes_from_its_spec(
        spec: str, extra: tuple[str, ...], expected: tuple[str, int]) -> None:
    assert daemon_address(spec, extra) == expected
