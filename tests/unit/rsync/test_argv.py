"""rsync argv builders, the path list on stdin, the move script and the exit-code table."""

from __future__ import annotations

import os
import subprocess

import pytest

from inosync.changes import ROOT, Move
from inosync.config.load import validate
from inosync.node import restricted
from inosync.rsync import argv as rsync
from inosync.rsync.moves import failed_moves, linked_move, move_script, rooted_move
from inosync.rsync.outcomes import Outcome, classify_exit
from inosync.rsync.output import bytes_sent, sender_failures


def config(**extra: object):  # type: ignore[no-untyped-def]
    raw = {"wpath": "/src", "rpath": "/dst", "rnodes": ["", "u@h:", "h::m"],
           "rexcludes": ["*.tmp"], **extra}
    return validate(raw, "t.toml", exists=lambda path: True)


def test_batch_sync_lists_paths_on_stdin_nul_separated() -> None:
    cfg = config()
    command = rsync.batch_sync(cfg, cfg.nodes[0], None, ["a b", "#c", "-d", "x\ny"])
    assert command.stdin == b"./a b\0./#c\0./-d\0./x\ny\0"
    argv = command.argv
    for option in ("-r", "--delete", "--delete-missing-args", "--files-from=-", "--from0",
                   "--exclude=*.tmp", "-a", "--force"):
        assert option in argv
    assert argv[-3:] == ("--", "/src/", "/dst/")


def test_non_utf8_names_round_trip_as_bytes() -> None:
    name = os.fsdecode(b"\xff\xfe.bin")
    assert rsync.list_stdin([name]) == b"./\xff\xfe.bin\0"


def test_ssh_node_uses_the_control_socket_and_batch_mode() -> None:
    cfg = config(rsh="ssh -p 2222")
    argv = rsync.batch_sync(cfg, cfg.nodes[1], "/run/inosync/n1.sock", ["f"]).argv
    shell = argv[argv.index("-e") + 1]
    assert shell.startswith("ssh -p 2222 -o BatchMode=yes")
    assert "ControlPath=/run/inosync/n1.sock" in shell and "ControlMaster=no" in shell
    assert argv[-1] == "u@h:/dst/"


def test_daemon_node_has_no_remote_shell() -> None:
    cfg = config()
    argv = rsync.batch_sync(cfg, cfg.nodes[2], None, ["f"]).argv
    assert "-e" not in argv and argv[-1] == "h::m/dst/"


def test_rspeed_and_extra_are_passed() -> None:
    cfg = config(rspeed=100, extra="--numeric-ids")
    argv = rsync.full_sync(cfg, cfg.nodes[0], None, 10).argv
    assert "--bwlimit=100" in argv and "--numeric-ids" in argv and "--delete" in argv


@pytest.mark.parametrize("share, entries, expected", [
    (0.5, 100, 100), (0.5, 0, 0), (0.2, 100, 25), (1.0, 5, -1), (0.0, 100, 0),
])
def test_max_delete_bound(share: float, entries: int, expected: int) -> None:
    assert rsync.max_delete_for(share, entries) == expected


@pytest.mark.parametrize("code, outcome", [
    (0, Outcome.OK), (24, Outcome.OK), (23, Outcome.PARTIAL), (25, Outcome.GUARD),
    (10, Outcome.TRANSIENT), (12, Outcome.TRANSIENT), (30, Outcome.TRANSIENT),
    (35, Outcome.TRANSIENT), (255, Outcome.TRANSIENT), (1, Outcome.ERROR),
    (3, Outcome.ERROR), (99, Outcome.ERROR), (-9, Outcome.TRANSIENT),
])
def test_exit_code_table(code: int, outcome: Outcome) -> None:
    assert classify_exit(code)[0] is outcome


def test_bytes_sent_is_parsed() -> None:
    out = b"sent 1,234 bytes  received 56 bytes  2,580.00 bytes/sec\n"
    assert bytes_sent(out) == 1234
    assert bytes_sent(b"nothing") is None


def test_move_script_replays_renames_and_names_failures(tmp_path) -> None:  # type: ignore[no-untyped-def]
    odd = os.fsdecode(b"it's \xff\n$HOME `x`")
    (tmp_path / "a").write_text("a")
    (tmp_path / os.fsdecode(odd.encode("utf-8", "surrogateescape"))).write_text("odd")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("f")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("k")
    moves = [Move("a", "b", False), Move(odd, "plain", False), Move("missing", "x", False),
             Move("dir", "full", True), Move("dir", "newdir", True),
             Move("b", "new/parents/b", False)]
    script = move_script(str(tmp_path), moves)
    done = subprocess.run(["sh", "-s"], input=script, capture_output=True, check=True)
    assert failed_moves(done.stdout) == {2, 3}
    assert sorted(os.listdir(tmp_path)) == ["full", "new", "newdir", "plain"]
    assert (tmp_path / "newdir" / "f").read_text() == "f"
    assert (tmp_path / "new" / "parents" / "b").read_text() == "a"


def test_linked_move_of_a_dir_uses_the_old_copy_as_copy_dest() -> None:
    cfg = config()
    command = linked_move(cfg, cfg.nodes[2], Move("a/old", "b", True), ["x.tmp"])
    assert "--copy-dest=../a/old" in command.argv
    assert command.argv[-2:] == ("/src/b/", "h::m/dst/b/")
    assert command.stdin == b"/x.tmp\0"


@pytest.mark.parametrize("extra", ["", "-H --numeric-ids -z", "--inplace", "-M--inplace",
                                   "--write-devices", ["--rsync-path=rsync --inplace"]])
def test_renames_rebuilt_on_the_node_copy_old_copies_and_never_link_them(
        extra: str | list[str]) -> None:
    """One rule for every rename rebuilt from the old copy: a daemon's directory and file,
    an rrsync node's directory and file. Linked, a later chmod (or, in place, a write) to
    one name would change the other."""
    cfg = config(extra=extra)
    daemon_moves = [linked_move(cfg, cfg.nodes[2], move, []).argv
                    for move in (Move("logs", "logs.1", True), Move("a/f", "b/f", False))]
    assert "--copy-dest=../logs" in daemon_moves[0]
    rooted = restricted.rooted(cfg.nodes[1])
    rooted_moves = [rooted_move(cfg, rooted, None, move, [])
                    for move in (Move("logs", "logs.1", True),
                                 Move("logs/app.log", "old/app.log", False))]
    assert all(command is not None for command in rooted_moves)
    for command in rooted_moves:
        assert command is not None
        assert any(word.startswith("--copy-dest=/logs") for word in command.argv)
    for argv in [*daemon_moves, *(c.argv for c in rooted_moves if c is not None)]:
        assert not any(word.startswith("--link-dest") for word in argv)


def test_linked_move_of_a_file_uses_a_fuzzy_basis() -> None:
    cfg = config()
    argv = linked_move(cfg, cfg.nodes[2], Move("a/f", "c/d/g", False), []).argv
    assert "--copy-dest=../../a" in argv and argv.count("--fuzzy") == 2
    assert argv[-2:] == ("/src/c/d/g", "h::m/dst/c/d/")


@pytest.mark.parametrize("path, pattern", [
    ("plain", b"/plain"), ("a*b", b"/a\\*b"), ("x[1]\\y", b"/x\\[1]\\\\y"),
    ("back\\slash", b"/back\\slash"),
])
def test_literal_patterns_match_only_themselves(path: str, pattern: bytes) -> None:
    assert rsync.literal_pattern(path) == pattern


def test_sender_failures_name_the_unreadable_source_paths() -> None:
    stderr = (b'file has vanished: "/src/a"\n'
              b'rsync: [sender] opendir "/src/locked" failed: Permission denied (13)\n'
              b'rsync: [sender] send_files failed to open "/src/d/s\\#303\\#251cret": '
              b'Permission denied (13)\n'
              b'rsync: [sender] link_stat "/elsewhere/x" failed: No such file (2)\n'
              b'rsync: [sender] link_stat "/src/a/x/f" failed: Not a directory (20)\n'
              b"IO error encountered -- skipping file deletion\n")
    assert sender_failures(stderr, "/src") == {
        "locked": "Permission denied (13)", "d/s\u00e9cret": "Permission denied (13)"}


def test_unreadable_paths_are_excluded_literally() -> None:
    cfg = config()
    argv = rsync.batch_sync(cfg, cfg.nodes[0], None, ["d"], ["d/a*b", "x"]).argv
    assert "--exclude=/d/a\\*b" in argv and "--exclude=/x" in argv


def test_a_piece_of_the_full_sync_sends_its_tops_and_leaves_what_earlier_pieces_sent() -> None:
    cfg = config()
    argv = rsync.piece_sync(cfg, cfg.nodes[0], None, 0, ["locked"], ["a", "b/c"],
                            ["a/x", "a/[y]"]).argv
    # the piece's own rules come first: no pattern of the user's can override them
    assert argv[1:5] == ("--filter=-s /a/x", "--filter=P /a/x",
                         "--filter=-s /a/\\[y]", "--filter=P /a/\\[y]")
    assert argv.index("--filter=P /a/\\[y]") < argv.index("--exclude=*.tmp")
    for option in ("--delete", "--max-delete=0", "-R", "--ignore-missing-args",
                   "--exclude=/locked", "--exclude=*.tmp"):
        assert option in argv
    assert argv[-4:] == ("--", "/src/./a", "/src/./b/c", "/dst/")


def test_the_last_piece_is_the_whole_tree_without_the_earlier_ones() -> None:
    cfg = config()
    last = rsync.piece_sync(cfg, cfg.nodes[1], None, None, [], [ROOT], ["p1"]).argv
    assert last[1:3] == ("--filter=-s /p1", "--filter=P /p1") and "-R" not in last
    assert "--delete" not in last and last[-3:] == ("--", "/src/", "u@h:/dst/")
    whole = rsync.full_sync(cfg, cfg.nodes[1], None, None).argv
    assert rsync.piece_sync(cfg, cfg.nodes[1], None, None, [], [ROOT], []).argv == whole
