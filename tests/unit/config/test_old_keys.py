"""The older inosync's keys: `logfile` keeps its meaning, a remote shell in `extra` goes to rsh."""

from __future__ import annotations

import pytest

from inosync.config.load import ConfigError, validate
from inosync.config.remote_shell import rsh_options
from inosync.rsync import argv as rsync

GOOD = {"wpath": "/srv/www", "rpath": "/srv/mirror", "rnodes": ["", "u@h:", "h::m"]}


def problems(raw: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate(raw, "/etc/inosync/www.toml", exists=lambda path: True)
    return caught.value.problems


def test_logfile_is_passed_to_every_rsync_that_changes_a_node() -> None:
    cfg = validate(dict(GOOD, logfile="/var/log/inosync/www.log"), "f.toml",
                   exists=lambda path: True)
    assert cfg.logfile == "/var/log/inosync/www.log"
    for node in cfg.nodes:
        for command in (rsync.full_sync(cfg, node, None, 10),
                        rsync.batch_sync(cfg, node, None, ["a"])):
            assert "--log-file=/var/log/inosync/www.log" in command.argv


def test_dry_runs_do_not_write_to_the_log() -> None:
    cfg = validate(dict(GOOD, logfile="/var/log/inosync/www.log"), "f.toml",
                   exists=lambda path: True)
    argv = rsync.probe(cfg, cfg.nodes[2], None).argv
    assert not any(word.startswith("--log-file") for word in argv)


def test_no_logfile_no_option() -> None:
    cfg = validate(GOOD, "f.toml", exists=lambda path: True)
    assert cfg.logfile == ""
    assert not any(w.startswith("--log-file") for w in rsync.full_sync(cfg, cfg.nodes[0], None,
                                                                        10).argv)


@pytest.mark.parametrize("logfile, expected", [
    ("log/inosync.log", '"log/inosync.log" is not an absolute file path'),
    ("/var/log/", "is not an absolute file path"),
    ("/srv/www/sync.log", "is inside wpath"),
    (5, "logfile: must be a string"),
])
def test_bad_logfile_is_named(logfile: object, expected: str) -> None:
    found = problems(dict(GOOD, logfile=logfile))
    assert any(line.startswith("/etc/inosync/www.toml: logfile: ") and expected in line
               for line in found), found


@pytest.mark.parametrize("extra, rsh", [
    ("--rsh=ssh -a", "ssh"),
    ("--rsh='ssh -p 2222'", "ssh -p 2222"),
    ("--rsh 'ssh -p 2222' --numeric-ids", "ssh -p 2222"),
    ("-e ssh", "ssh"),
    ("-essh", "ssh"),
    ("-avze 'ssh -i /k'", "ssh -i /k"),
])
def test_a_remote_shell_in_extra_is_refused_with_the_rsh_line_to_write(extra: str,
                                                                       rsh: str) -> None:
    found = problems(dict(GOOD, extra=extra))
    lines = [line for line in found if line.startswith("/etc/inosync/www.toml: extra: ")]
    assert len(lines) == 1, found
    assert "sets the remote shell" in lines[0] and f'rsh = "{rsh}"' in lines[0]


@pytest.mark.parametrize("words", [
    ["--numeric-ids", "-H"], ["--temp-dir=-e"], ["-B1024e"], ["--delete", "-z"], ["-Te x"],
])
def test_options_that_only_look_like_a_remote_shell_pass(words: list[str]) -> None:
    assert rsh_options(words) == []
    try:
        validate(dict(GOOD, extra=words), "f.toml", exists=lambda path: True)
    except ConfigError as error:  # refused for another reason, maybe, but not this one
        assert not any("remote shell" in line for line in error.problems), error.problems


def test_rsh_options_reports_where_and_how_many_words() -> None:
    assert rsh_options(["-a", "-e", "ssh -p 2", "--rsh=rsh"]) == [(1, 2, "ssh -p 2"),
                                                                   (3, 1, "rsh")]
