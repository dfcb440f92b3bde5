"""The mount table and fstab parsed, and the lost/back/released decisions, as tables."""

from __future__ import annotations

import pytest

from inosync.source.mounts import (
    FstabEntry,
    Mount,
    MountChanges,
    MountState,
    advance,
    below,
    listed_but_missing,
    mounted_at_boot,
    moved,
    parse_fstab,
    parse_mountinfo,
    replaced,
    tops,
    unescape,
)

MOUNTINFO = (
    b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    b"36 22 98:0 /mnt1 /srv/www/data rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
    b"37 22 0:40 / /srv/www/my\\040disk rw - tmpfs tmpfs rw\n"
    b"38 22 0:41 / /srv/www/tab\\011new\\012line\\134x rw shared:7 master:2 - nfs4 h:/e rw\n"
    b"39 22 0:42 / /srv/www/\\303\\251t\\303\\251 rw - tmpfs none rw\n"
    b"40 22 0:43 / /srv/www/bad\\377name rw - tmpfs none rw\n"
    b"garbage\n"
    b"\n"
)


@pytest.mark.parametrize("field, path", [
    (b"/plain", "/plain"),
    (b"/a\\040b", "/a b"),
    (b"/tab\\011x", "/tab\tx"),
    (b"/nl\\012x", "/nl\nx"),
    (b"/back\\134slash", "/back\\slash"),
    (b"/\\303\\251", "/\u00e9"),
    (b"/\\377", "/\udcff"),  # not UTF-8: surrogateescape, as every path in inosync
    (b"/\\04x", "/\\04x"),  # not three octal digits: left alone
])
def test_octal_escapes_become_the_bytes_they_stand_for(field: bytes, path: str) -> None:
    assert unescape(field) == path


def test_mountinfo_lines_are_parsed_and_garbage_is_skipped() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.point for m in mounts] == [
        "/", "/srv/www/data", "/srv/www/my disk", "/srv/www/tab\tnew\nline\\x",
        "/srv/www/\u00e9t\u00e9", "/srv/www/bad\udcffname"]
    assert mounts[1] == Mount(36, 22, "/mnt1", "/srv/www/data", "ext3", "/dev/root")
    assert mounts[3].fstype == "nfs4" and mounts[3].source == "h:/e"  # two optional fields


@pytest.mark.parametrize("stack, top", [
    ([Mount(30, 22, "/", "/p", "tmpfs", "a")], 30),
    ([Mount(30, 22, "/", "/p", "tmpfs", "a"), Mount(31, 30, "/", "/p", "nfs", "b")], 31),
    ([Mount(31, 30, "/", "/p", "nfs", "b"), Mount(30, 22, "/", "/p", "autofs", "a")], 31),
])
def test_the_topmost_of_mounts_stacked_on_one_point_is_what_a_path_there_shows(
        stack: list[Mount], top: int) -> None:
    assert tops(stack) == {"/p": top}


@pytest.mark.parametrize("before, after, expected", [
    ({"a": 1, "b": 2}, {"a": 1, "b": 2}, set()),
    ({"a": 1}, {"a": 5}, {"a"}),  # unmounted and mounted again between two looks
    ({"a": 1}, {"a": 1, "b": 2}, set()),  # new: appears anyway
    ({"a": 1, "b": 2}, {"b": 2}, set()),
])
def test_a_mount_point_mounted_by_another_mount_is_noticed(
        before: dict[str, int], after: dict[str, int], expected: set[str]) -> None:
    assert replaced(before, after) == expected


@pytest.mark.parametrize("top, points, expected", [
    ("/srv/www", ["/", "/srv", "/srv/www", "/srv/www/a", "/srv/www/a/b", "/srv/wwwx"],
     {"a", "a/b"}),
    ("/srv/www", ["/srv/www/a/", "/srv//www/c"], {"a", "c"}),
    ("/", ["/", "/proc", "/srv/x"], {"proc", "srv/x"}),
    ("/srv/www", [], set()),
])
def test_only_mount_points_strictly_below_wpath_count(top: str, points: list[str],
                                                      expected: set[str]) -> None:
    assert below(top, points) == expected


FSTAB = b"""# /etc/fstab: static file system information.
UUID=1234 / ext4 errors=remount-ro 0 1
/dev/sdb1 /srv/www/data ext4 defaults 0 2
UUID=5678 none swap sw 0 0
/swapfile /swap swap sw 0 0
nas:/export /srv/www/nfs\\040share nfs4 noauto,x-systemd.automount 0 0
server:/media /srv/www/media nfs rw,_netdev # a comment after the fields
tmpfs /srv/www/tmp tmpfs
   # an indented comment

/dev/sdc1
"""


def test_fstab_entries_with_escapes_comments_and_defaults() -> None:
    entries = parse_fstab(FSTAB)
    assert [e.point for e in entries] == ["/", "/srv/www/data", "none", "/swap",
                                          "/srv/www/nfs share", "/srv/www/media",
                                          "/srv/www/tmp"]
    assert entries[6] == FstabEntry("tmpfs", "/srv/www/tmp", "tmpfs", ("defaults",))
    assert entries[5].options == ("rw", "_netdev")


def test_only_what_boot_mounts_counts_as_expected() -> None:
    assert mounted_at_boot(parse_fstab(FSTAB)) == [
        "/", "/srv/www/data", "/srv/www/media", "/srv/www/tmp"]


S = MountState
C = MountChanges
F = frozenset


@pytest.mark.parametrize("why, state, mounted, dirs, full, new_state, changes", [
    ("nothing changes",
     S(F({"a"})), F({"a"}), {"a"}, {"a"}, S(F({"a"})), C()),
    ("a new mount is watched and synced",
     S(), F({"a"}), {"a"}, {"a"}, S(F({"a"})), C(appeared=F({"a"}))),
    ("an unmount leaves a directory: protected",
     S(F({"a", "b"})), F({"b"}), {"a", "b"}, set(), S(F({"b"}), F({"a"})),
     C(unmounted=F({"a"}), lost=F({"a"}))),
    ("an unmount with the directory gone too: nothing to protect",
     S(F({"a"})), F(), set(), set(), S(), C(unmounted=F({"a"}))),
    ("a lazy unmount takes the mount below along: both protected",
     S(F({"a", "a/b"})), F(), {"a"}, set(), S(F(), F({"a", "a/b"})),
     C(unmounted=F({"a", "a/b"}), lost=F({"a", "a/b"}))),
    ("still lost: nothing to say",
     S(F(), F({"a"})), F(), {"a"}, set(), S(F(), F({"a"})), C()),
    ("mounted again with content: protection ends",
     S(F(), F({"a"})), F({"a"}), {"a"}, {"a"}, S(F({"a"})),
     C(appeared=F({"a"}), back=F({"a"}))),
    ("mounted again but empty: still protected",
     S(F(), F({"a"})), F({"a"}), {"a"}, set(), S(F({"a"}), F({"a"})),
     C(appeared=F({"a"}))),
    ("the empty filesystem fills up: protection ends",
     S(F({"a"}), F({"a"})), F({"a"}), {"a"}, {"a"}, S(F({"a"})), C(back=F({"a"}))),
    ("the operator removes the mount point: released",
     S(F(), F({"a"})), F(), set(), set(), S(), C(released=F({"a"}))),
    ("below a lost one, the missing directory stays protected",
     S(F(), F({"a", "a/b"})), F(), {"a"}, set(), S(F(), F({"a", "a/b"})), C()),
    ("the parent back without the inner mount point: the inner one released",
     S(F(), F({"a", "a/b"})), F({"a"}), {"a"}, {"a"}, S(F({"a"})),
     C(appeared=F({"a"}), back=F({"a"}), released=F({"a/b"}))),
    ("the parent back with the inner mount point there: the inner one still lost",
     S(F(), F({"a", "a/b"})), F({"a"}), {"a", "a/b"}, {"a"}, S(F({"a"}), F({"a/b"})),
     C(appeared=F({"a"}), back=F({"a"}))),
])
def test_lost_mount_points_are_protected_until_back_or_removed(
        why: str, state: MountState, mounted: frozenset[str], dirs: set[str], full: set[str],
        new_state: MountState, changes: MountChanges) -> None:
    got = advance(state, mounted, lambda path: path in dirs, lambda path: path in full)
    assert got == (new_state, changes), why


def test_a_mount_point_mounted_anew_between_two_looks_is_watched_and_synced_again() -> None:
    got = advance(S(F({"a", "b"})), F({"a", "b"}), lambda path: True, lambda path: True,
                  other=F({"a"}))
    assert got == (S(F({"a", "b"})), C(appeared=F({"a"})))


@pytest.mark.parametrize("mounted, listed, dirs, lost", [
    (F({"a"}), F({"a", "b", "c"}), {"a", "b"}, F({"b"})),  # c has no directory: nothing
    (F(), F(), set(), F()),
])
def test_fstab_points_with_nothing_mounted_are_lost_at_start(
        mounted: frozenset[str], listed: frozenset[str], dirs: set[str],
        lost: frozenset[str]) -> None:
    assert listed_but_missing(mounted, listed, lambda path: path in dirs) == lost


@pytest.mark.parametrize("lost, src, dst, expected", [
    (F({"a/m"}), "a", "b", F({"b/m"})),
    (F({"a/m"}), "a/m", "z", F({"z"})),
    (F({"a/m", "x"}), "ab", "c", F({"a/m", "x"})),
    (F({"a/m"}), "", "c", F({"a/m"})),
])
def test_a_renamed_directory_takes_its_lost_mount_points_along(
        lost: frozenset[str], src: str, dst: str, expected: frozenset[str]) -> None:
    assert moved(MountState(F(), lost), src, dst).lost == expected
