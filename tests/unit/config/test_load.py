"""Config validation: every problem reported at once, one line each, naming file and key."""

from __future__ import annotations

import pytest

from inosync.config.load import ConfigError, load, parse_node, validate

GOOD = {"wpath": "/srv/www", "rpath": "/srv/mirror", "rnodes": [""]}


def problems(raw: dict[str, object], exists: bool = True) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate(raw, "/etc/inosync/www.toml", exists=lambda path: exists)
    return caught.value.problems


def test_minimal_config_gets_defaults() -> None:
    cfg = validate(GOOD, "f.toml", exists=lambda path: True)
    assert cfg.rsync == "rsync" and cfg.rsh == ("ssh",) and cfg.rspeed == 0
    assert cfg.nodes[0].kind == "local" and cfg.nodes[0].dest == "/srv/mirror"
    assert cfg.log_level == "info" and cfg.max_delete_share == 0.5


def test_all_keys_are_parsed() -> None:
    raw = dict(GOOD, rnodes=["", "user@host:", "h::mod", "rsync://h:8873/mod/"],
               rexcludes=["*.tmp", "/cache/"], extra="--numeric-ids --chmod='u+rw'",
               rspeed=500, rsync="/usr/bin/rsync", rsh="ssh -p 2222 -i '/etc/my key'",
               log_level="DEBUG", max_delete_share=0.25)
    cfg = validate(raw, "f.toml", exists=lambda path: True)
    assert [n.kind for n in cfg.nodes] == ["local", "ssh", "daemon", "daemon"]
    assert [n.dest for n in cfg.nodes] == ["/srv/mirror", "user@host:/srv/mirror",
                                           "h::mod/srv/mirror", "rsync://h:8873/mod/srv/mirror"]
    assert cfg.extra == ("--numeric-ids", "--chmod=u+rw")
    assert cfg.rsh == ("ssh", "-p", "2222", "-i", "/etc/my key")
    assert cfg.log_level == "debug" and cfg.rspeed == 500


@pytest.mark.parametrize("raw, expected", [
    (dict(GOOD, wpth="/x"), 'wpth: unknown key - did you mean "wpath"?'),
    (dict(GOOD, wpath="srv/www"), 'wpath: "srv/www" is relative'),
    ({"rpath": "/m", "rnodes": [""]}, "wpath: is missing"),
    (dict(GOOD, rpath="/"), 'rpath: "/" would mirror over a whole node'),
    (dict(GOOD, rnodes=["mirror2"]), 'rnodes[0]: "mirror2" has no \':\' - write "mirror2:"'),
    (dict(GOOD, rnodes=[]), "rnodes: is empty"),
    (dict(GOOD, rnodes=[3]), "rnodes[0]: must be a string"),
    (dict(GOOD, rnodes=["host:/path"]), "rnodes[0]: \"host:/path\" is not rsync node syntax"),
    (dict(GOOD, rnodes=["", ""]), "rnodes[1]: \"\" is listed twice"),
    (dict(GOOD, rnodes=["::mod"]), "needs a host and a module"),
    (dict(GOOD, rpath="/srv/www/copy"), "overlaps wpath"),
    (dict(GOOD, rpath="/srv"), "overlaps wpath"),
    (dict(GOOD, rspeed="fast"), "rspeed: must be a whole number"),
    (dict(GOOD, rspeed=-1), "rspeed: -1 is negative"),
    (dict(GOOD, rspeed=True), "rspeed: must be a whole number of KB/s (0 = no limit), not a "
     "boolean"),
    (dict(GOOD, extra="--delete-excluded"), '"--delete-excluded" would delete excluded files'),
    (dict(GOOD, extra="--bwlimit='5"), "extra: cannot be split like a shell would"),
    (dict(GOOD, log_level="loud"), 'log_level: "loud" is not one of'),
    (dict(GOOD, max_delete_share=2), "max_delete_share: 2 is outside 0..1"),
    (dict(GOOD, rsh=""), "rsh: is empty"),
    (dict(GOOD, rexcludes=[""]), "rexcludes[0]: '' is not a usable pattern"),
])
def test_each_bad_value_is_named(raw: dict[str, object], expected: str) -> None:
    found = problems(raw)
    assert any(expected in line for line in found), found
    assert all(line.startswith("/etc/inosync/www.toml: ") for line in found)


def test_missing_wpath_directory_is_reported() -> None:
    assert any("is not an existing directory" in p for p in problems(GOOD, exists=False))


def test_every_problem_is_reported_at_once() -> None:
    found = problems({"wpath": "rel", "rpath": "/", "rnodes": ["bad"], "colour": 1,
                      "rspeed": -5})
    keys = [line.split(": ")[1] for line in found]
    assert keys == ["colour", "wpath", "rpath", "rnodes[0]", "rspeed"], found


@pytest.mark.parametrize("spec, kind, host", [
    ("", "local", ""), ("root@127.0.0.1:", "ssh", "root@127.0.0.1"), ("h::m", "daemon", ""),
    ("rsync://h/m", "daemon", ""), ("[::1]:", "ssh", "::1"), ("u@[fe80::1]:", "ssh", "u@fe80::1"),
])
def test_node_kinds(spec: str, kind: str, host: str) -> None:
    node, reason = parse_node(spec, "/r")
    assert node is not None, reason
    assert (node.kind, node.host) == (kind, host)


@pytest.mark.parametrize("content, expected", [
    (b"wpath = ", "is not valid TOML"),
    (b"\xff\xfe", "is not UTF-8 text"),
])
def test_unreadable_files_give_one_line(tmp_path, content: bytes, expected: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    assert len(caught.value.problems) == 1
    assert expected in caught.value.problems[0] and str(path) in caught.value.problems[0]


def test_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="no such file"):
        load(str(tmp_path / "nope.toml"))
