"""Nodes behind rrsync: telling them apart, addressing them, renames through rsync alone."""

from __future__ import annotations

import subprocess

import pytest

from inosync.changes import Move
from inosync.config.load import validate
from inosync.node import restricted
from inosync.rsync import argv as rsync
from inosync.rsync.moves import rooted_move, rrsync_safe
from inosync.rsync.output import parse_itemized

REFUSAL = b"/usr/bin/rrsync error: SSH_ORIGINAL_COMMAND does not run rsync\n"
PERL_REFUSAL = b"/usr/bin/rrsync: SSH_ORIGINAL_COMMAND='echo inosync-shell' is not rsync\n"


def config(**extra: object):  # type: ignore[no-untyped-def]
    raw = {"wpath": "/src", "rpath": "/srv/www", "rnodes": ["deploy@web1:", "[::1]:"],
           "rsh": "ssh -i /etc/inosync/www.key", **extra}
    return validate(raw, "www.toml", exists=lambda path: True)


@pytest.mark.parametrize("code, stderr, expected", [
    (1, REFUSAL, True),
    (1, PERL_REFUSAL, True),
    (0, b"", False),  # a shell ran it
    (1, b"This service allows sftp connections only.\n", False),  # another forced command
    (127, b"sh: 1: echo: not found\n", False),
    (255, b"ssh: connect to host web1 port 22: Connection refused\n", None),
    (-15, b"", None),
])
def test_the_shell_probe_tells_rrsync_from_a_shell_and_from_ssh_failing(
        code: int, stderr: bytes, expected: bool | None) -> None:
    assert restricted.verdict(code, stderr) is expected


def test_the_probe_is_not_the_command_rrsync_lets_through() -> None:
    cfg = config()
    argv = restricted.probe(cfg, cfg.nodes[0], "/run/inosync/www/n1.sock").argv
    assert argv[-2:] == ("deploy@web1", "echo inosync-shell")
    assert "ControlPath=/run/inosync/www/n1.sock" in argv
    assert argv[-1] != "true"  # rrsync answers "true" with success: it would tell nothing


def test_a_restricted_node_is_addressed_relative_to_rrsyncs_directory() -> None:
    cfg = config()
    for node in cfg.nodes:
        rooted = restricted.rooted(node)
        assert rooted.dest == node.spec and rooted.name == node.name
        assert rooted.rooted and not node.rooted
        for command in (rsync.full_sync(cfg, rooted, None, 10),
                        rsync.whole_tree_dry_run(cfg, rooted, None),
                        rsync.batch_sync(cfg, rooted, None, ["a"]),
                        rsync.probe(cfg, rooted, None)):
            assert command.argv[-1] == node.spec  # rsync sends ".": no "/", no rpath
            assert "--modify-window=-1" not in command.argv  # rrsync refuses its "-@-1"
            assert "-M--modify-window=-1" in command.argv
        assert rsync.full_sync(cfg, node, None, 10).argv[-1] == node.dest + "/"
        assert "--modify-window=-1" in rsync.full_sync(cfg, node, None, 10).argv


def test_a_dir_rename_copies_from_the_old_place_named_from_rrsyncs_root() -> None:
    cfg = config()
    node = restricted.rooted(cfg.nodes[0])
    command = rooted_move(cfg, node, "/run/n1.sock", Move("a/old", "b/new", True),
                                ["x.tmp"])
    assert command is not None
    argv = command.argv
    assert "--copy-dest=/a/old" in argv and "--mkpath" in argv
    assert not any(".." in word for word in argv)  # rrsync refuses ".." anywhere
    assert argv[-2:] == ("/src/b/new/", "deploy@web1:b/new/")
    assert "ControlPath=/run/n1.sock" in argv[argv.index("-e") + 1]
    assert command.stdin == b"/x.tmp\0"


def test_a_file_rename_sends_the_new_name_against_the_old_file() -> None:
    cfg = config()
    node = restricted.rooted(cfg.nodes[0])
    command = rooted_move(cfg, node, None, Move("a/f", "g", False), [])
    assert command is not None
    argv = command.argv
    assert argv.count("--fuzzy") == 2 and "--copy-dest=/a" in argv
    assert argv[-2:] == ("/src/g", "deploy@web1:")


def test_the_old_copy_before_earlier_renames_in_the_batch_is_the_first_basis() -> None:
    """site -> site2, then site2/d/f -> x/g: the node still has site/d/f, while its new
    site2 was rebuilt without f."""
    moves = [Move("site", "site2", True), Move("site2/d/f", "x/g", False)]
    assert restricted.origin_of("site2/d/f", moves[:1]) == "site/d/f"
    assert restricted.origin_of("other", moves[:1]) == "other"
    assert restricted.origin_of("site2x/f", moves[:1]) == "site2x/f"
    cfg = config()
    node = restricted.rooted(cfg.nodes[0])
    command = rooted_move(cfg, node, None, moves[1], [], "site/d/f")
    assert command is not None
    dests = [w for w in command.argv if w.startswith("--copy-dest=")]
    assert dests == ["--copy-dest=/site/d", "--copy-dest=/site2/d"]


@pytest.mark.parametrize("name", ["a*b", "q?", "[x]", "new\nline", "tab\there", "{a,b}"])
def test_names_rrsync_would_split_or_glob_are_resent_instead(name: str) -> None:
    cfg = config()
    node = restricted.rooted(cfg.nodes[0])
    assert rooted_move(cfg, node, None, Move(name, "plain", False), []) is None
    assert rooted_move(cfg, node, None, Move("plain", f"d/{name}", True), []) is None


@pytest.mark.parametrize("name", ["a b", "50%off.pdf", "#x", "-lead", "it's", "ü", "a\\b"])
def test_names_rrsync_takes_unchanged_keep_their_linked_rename(name: str) -> None:
    assert rrsync_safe(name)


def test_itemized_names_keep_their_leading_spaces(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Found by the random test against the rrsync node: a verification that dropped the
    leading space of " name" could not tell it apart from a change still on its way."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / " lead").write_bytes(b"x")
    (tmp_path / "b" / "  gone").write_bytes(b"y")
    out = subprocess.run(["rsync", "-a", "--delete", "--dry-run", "--itemize-changes",
                          "--out-format=%i %n", f"{tmp_path}/a/", f"{tmp_path}/b/"],
                         capture_output=True, check=True).stdout
    items = {(item.change, item.path) for item in parse_itemized(out)}
    assert ("*deleting", "  gone") in items
    assert (">f+++++++++", " lead") in items
