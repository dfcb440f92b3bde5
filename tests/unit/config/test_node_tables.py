"""rnodes entries as tables: a node's own rsh, rspeed, extra, verify_interval and on_sync,
with errors that name the entry and the key; and the keys on_sync, on_sync_timeout and
keep_deleted."""

from __future__ import annotations

import pytest

from inosync.config.load import ConfigError, validate

GOOD = {"wpath": "/srv/www", "rpath": "/srv/mirror"}
FILE = "/etc/inosync/www.toml"


def config(**raw: object):  # type: ignore[no-untyped-def]
    return validate(dict(GOOD, **raw), FILE, exists=lambda path: True)


def problems(**raw: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config(**raw)
    return caught.value.problems


def test_a_table_overrides_the_instances_settings_for_its_node_alone() -> None:
    cfg = config(rspeed=500, rsh="ssh -i /etc/inosync/www.key", extra="--numeric-ids",
                 verify_interval="1h", on_sync=["/usr/local/bin/purge"], rnodes=[
                     "deploy@web1:",
                     {"node": "deploy@far:", "rspeed": 2000, "rsh": "ssh -p 2222",
                      "extra": "-z", "verify_interval": "10m", "on_sync": []}])
    near, far = (cfg.for_node(node) for node in cfg.nodes)
    assert (near.rspeed, near.rsh, near.extra, near.verify_interval, near.on_sync) == (
        500, ("ssh", "-i", "/etc/inosync/www.key"), ("--numeric-ids",), 3600.0,
        ("/usr/local/bin/purge",))
    assert (far.rspeed, far.rsh, far.extra, far.verify_interval, far.on_sync) == (
        2000, ("ssh", "-p", "2222"), ("-z",), 600.0, ())
    assert cfg.nodes[1].host == "deploy@far" and cfg.nodes[1].kind == "ssh"


def test_a_node_is_the_same_node_whatever_its_table_sets() -> None:
    """A reload that changes only a node's settings keeps its state: identity is where."""
    before = config(rnodes=[{"node": "deploy@web1:", "rspeed": 1}])
    after = config(rnodes=[{"node": "deploy@web1:", "rspeed": 2}])
    assert before.nodes == after.nodes
    assert after.for_node(before.nodes[0]).rspeed == 2  # the new config's settings apply


@pytest.mark.parametrize(("entry", "expected"), [
    ({"node": "deploy@web1:", "rspeed": -1},
     "rnodes[1].rspeed: -1 is negative - use 0 for no limit"),
    ({"node": "deploy@web1:", "rspeed": "fast"},
     "rnodes[1].rspeed: must be a whole number of KB/s (0 = no limit), not str 'fast'"),
    ({"node": "deploy@web1:", "bwlimit": 5},
     "rnodes[1].bwlimit: unknown key - a node's table may set node, rsh, rspeed, extra, "
     "verify_interval, on_sync"),
    ({"rspeed": 5}, "rnodes[1].node: is missing"),
    ({"node": 5}, "rnodes[1].node: must be a string in rsync syntax, not int 5"),
    ({"node": "web1"}, "rnodes[1].node: \"web1\" has no ':'"),
    ({"node": "deploy@web1:", "extra": "--delete-excluded"},
     'rnodes[1].extra: "--delete-excluded" would delete excluded files'),
    ({"node": "deploy@web1:", "extra": "-e 'ssh -p 2'"}, "rnodes[1].extra: \"-e ssh -p 2\" "
     "sets the remote shell"),
    ({"node": "deploy@web1:", "rsh": ""}, "rnodes[1].rsh: is empty"),
    ({"node": "deploy@web1:", "verify_interval": "soon"},
     "rnodes[1].verify_interval: 'soon' is not a duration"),
    ({"node": "deploy@web1:", "on_sync": "/bin/purge --all"},
     "rnodes[1].on_sync: must be a list of words"),
    ({"node": "deploy@web1:", "on_sync": ["/bin/purge", 3]},
     "rnodes[1].on_sync[1]: must be a string without NUL bytes, not 3"),
    (7, 'rnodes[1]: must be a string like "user@host:" or a table'),
    ({"node": "deploy@web2:"}, None),
])
def test_each_problem_in_a_table_names_the_entry_and_the_key(
        entry: object, expected: str | None) -> None:
    raw = {"rnodes": ["deploy@web2:", entry]}
    if expected is None:
        assert problems(**raw) == [f'{FILE}: rnodes[1]: "deploy@web2:" is listed twice - '
                                   "remove one"]
        return
    found = problems(**raw)
    assert len(found) == 1, found
    assert found[0].startswith(f"{FILE}: {expected}"), found


def test_every_table_problem_is_reported_at_once() -> None:
    found = problems(rnodes=[{"node": "a@b:", "rspeed": -1, "rsh": ""},
                             {"node": "", "on_sync": "x"}])
    assert [p.split(": ")[1] for p in found] == ["rnodes[0].rsh", "rnodes[0].rspeed",
                                                 "rnodes[1].on_sync"]


@pytest.mark.parametrize(("raw", "expected"), [
    ({"on_sync": ["", "x"]}, 'on_sync[0]: is empty - name the program'),
    ({"on_sync": "purge"}, "on_sync: must be a list of words"),
    ({"on_sync_timeout": 0}, "on_sync_timeout: 0 would let a hook that hangs hold back"),
    ({"on_sync_timeout": "0s"}, "on_sync_timeout: 0 would let a hook that hangs hold back"),
    ({"on_sync_timeout": "a while"}, "on_sync_timeout: 'a while' is not a duration"),
    ({"keep_deleted": "7 days"}, "keep_deleted: '7 days' is not a duration"),
    ({"keep_deleted": "7d", "extra": "--backup-dir=/x"},
     'extra: "--backup-dir=/x" would fight keep_deleted'),
    ({"keep_deleted": "7d", "extra": "-b"}, 'extra: "-b" would fight keep_deleted'),
])
def test_the_hook_and_keep_keys_refuse_what_would_not_work(raw: dict[str, object],
                                                           expected: str) -> None:
    found = problems(rnodes=[""], **raw)
    assert len(found) == 1 and found[0].startswith(f"{FILE}: {expected}"), found


def test_the_hook_and_keep_keys_default_to_off() -> None:
    cfg = config(rnodes=[""])
    assert (cfg.on_sync, cfg.on_sync_timeout, cfg.keep_deleted) == ((), 60.0, 0.0)
    cfg = config(rnodes=[""], on_sync=["/bin/true"], on_sync_timeout="2m",
                 keep_deleted="7d")
    assert (cfg.on_sync, cfg.on_sync_timeout, cfg.keep_deleted) == (
        ("/bin/true",), 120.0, 7 * 86400.0)
    assert config(rnodes=[""], extra="--backup").extra == ("--backup",)  # theirs, when off
