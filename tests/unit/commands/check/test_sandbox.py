"""Which configs the service's sandbox breaks: wpath under a private /tmp, a read-only rpath."""

from __future__ import annotations

import pytest

from inosync.commands.check.sandbox import SHIPPED, Sandbox, is_under, parse_show, sandbox_warnings

STRICT = Sandbox(private_tmp=True, protect_system="strict", read_write_paths=("/srv/mirror",))
OPEN = Sandbox(private_tmp=False, protect_system="no")


@pytest.mark.parametrize("wpaths, rpaths, sandbox, expected", [
    (["/srv/www"], ["/srv/mirror"], SHIPPED, []),
    (["/tmp/site"], [], SHIPPED, ["wpath /tmp/site is under /tmp", "PrivateTmp=yes",
                                  "PrivateTmp=no", "systemctl edit inosync@www"]),
    (["/var/tmp/site"], [], SHIPPED, ["wpath /var/tmp/site is under /var/tmp"]),
    (["/tmp"], [], SHIPPED, ["wpath /tmp is under /tmp"]),
    (["/tmpfs/site", "/var/tmpx"], [], SHIPPED, []),
    (["/tmp/site"], [], OPEN, []),
    ([], ["/tmp/copy"], SHIPPED, ["rpath /tmp/copy of the local node is under /tmp",
                                  "removed when it stops"]),
    ([], ["/etc/mirror"], SHIPPED, ["rpath /etc/mirror of the local node is read-only",
                                    "ProtectSystem=full mounts /etc read-only",
                                    "ReadWritePaths=/etc/mirror",
                                    "/etc/systemd/system/inosync@www.service.d/override.conf"]),
    ([], ["/usr/local/share/www"], SHIPPED, ["ProtectSystem=full mounts /usr read-only"]),
    ([], ["/boot/x"], SHIPPED, ["mounts /boot read-only"]),
    ([], ["/efi/x"], SHIPPED, ["mounts /efi read-only"]),
    ([], ["/etcetera/x", "/srv/www", "/home/u/www"], SHIPPED, []),
    ([], ["/etc/mirror"], Sandbox(True, "yes"), []),
    ([], ["/usr/mirror"], Sandbox(True, "yes"), ["ProtectSystem=yes mounts /usr read-only"]),
    ([], ["/etc/mirror"], Sandbox(True, "full", ("/etc/mirror",)), []),
    ([], ["/etc/mirror/sub"], Sandbox(True, "full", ("/etc/mirror",)), []),
    ([], ["/srv/mirror/a", "/dev/shm/x"], STRICT, []),
    ([], ["/srv/other"], STRICT, ["ProtectSystem=strict mounts the whole file system",
                                  "ReadWritePaths=/srv/other"]),
])
def test_the_sandbox_warns_about_each_path_it_breaks(
        wpaths: list[str], rpaths: list[str], sandbox: Sandbox, expected: list[str]) -> None:
    warnings = sandbox_warnings("www", wpaths, rpaths, sandbox)
    if not expected:
        assert warnings == []
        return
    assert len(warnings) == 1, warnings
    for words in expected:
        assert words in warnings[0]


def test_a_path_given_twice_is_warned_about_once() -> None:
    assert len(sandbox_warnings("www", ["/tmp/a", "/tmp/a"], [], SHIPPED)) == 1


def test_a_wpath_whose_link_leads_into_tmp_is_warned_about() -> None:
    (warning,) = sandbox_warnings("www", ["/srv/www", "/tmp/real"], [], SHIPPED)
    assert warning.startswith("wpath /tmp/real ")


@pytest.mark.parametrize("text, expected", [
    ("LoadState=loaded\nPrivateTmp=yes\nProtectSystem=full\nReadWritePaths=\n", SHIPPED),
    ("LoadState=loaded\nPrivateTmp=no\nProtectSystem=strict\nReadWritePaths=-/srv/a /srv/b\n",
     Sandbox(False, "strict", ("/srv/a", "/srv/b"))),
    ("LoadState=loaded\nPrivateTmp=yes\nProtectSystem=true\n", Sandbox(True, "yes")),
    ("LoadState=not-found\nPrivateTmp=no\nProtectSystem=no\n", None),
    ("", None),
])
def test_systemctl_show_gives_the_sandbox_of_a_loaded_unit_only(
        text: str, expected: Sandbox | None) -> None:
    assert parse_show(text) == expected


@pytest.mark.parametrize("path, top, expected", [
    ("/tmp", "/tmp", True), ("/tmp/", "/tmp", True), ("/tmp/a", "/tmp", True),
    ("/tmpx", "/tmp", False), ("/var/tmp/a", "/tmp", False), ("/anything", "/", True),
])
def test_is_under_compares_whole_path_components(path: str, top: str, expected: bool) -> None:
    assert is_under(path, top) is expected
