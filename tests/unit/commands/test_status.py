"""`inosync status` as a monitoring plugin: the first line, the performance data and the
verdict per instance, from state files rendered by the real views; and instance discovery."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from inosync.commands.list import list_rows
from inosync.commands.status import Limits, duration, first_line, judge_found, report
from inosync.exitcodes import CRITICAL, OK, UNKNOWN, WARNING
from inosync.report.instances import Found, configured, discover, enabled_names
from inosync.report.node_facts import NodeFacts
from inosync.report.views import Instance, state_dict

NOW = 1_800_000_000.0
LIMITS = Limits(60, 300)
# monitoring-plugins performance data: 'label'=value[UOM];[warn];[crit];[min];[max]
PERFDATA = re.compile(r"^'[^'=]+'=-?[0-9.]+(s|%|B|KB|MB|TB|c)?(;[0-9.]*){0,4}$")


def node(name: str, state: str = "in sync", **fields: object) -> NodeFacts:
    facts = NodeFacts(name, name + ":", "ssh", state=state, last_success=NOW - 10)
    for key, value in fields.items():
        setattr(facts, key, value)
    return facts


def running(name: str, *nodes: NodeFacts, paused: str = "") -> Found:
    instance = Instance(name, f"/etc/inosync/{name}.toml", "/srv/www", 42, NOW - 3600,
                        watches=5, paused_reason=paused)
    state: dict[str, Any] = json.loads(json.dumps(state_dict(instance, list(nodes), NOW)))
    return Found(name, f"/etc/inosync/{name}.toml", True, False, state)


def fleet() -> Found:
    return running(
        "www", node("deploy@web1"),
        node("deploy@web2", "behind", behind_since=NOW - 4, pending_paths=310),
        node("deploy@web3", "failing", failing_since=NOW - 12 * 60, behind_since=NOW - 720,
             last_error_code=255, last_error="ssh: connect to host web3: refused | x",
             last_error_at=NOW - 5))


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (45.7, "45s"), (60, "1m"), (12 * 60 + 30, "12m"), (3600, "1h"),
    (2 * 3600 + 5 * 60, "2h5m"), (86400, "1d"), (3 * 86400 + 4 * 3600, "3d4h"), (-3, "0s"),
])
def test_durations_are_short(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_the_first_line_names_the_state_the_count_and_the_worst_node() -> None:
    level, text = report([fleet()], LIMITS, NOW)
    head, _, perf = text.splitlines()[0].partition(" | ")
    assert level == CRITICAL
    assert head == "INOSYNC CRITICAL - 1/3 nodes in sync, deploy@web3 failing 12m"
    assert "|" not in head


def test_performance_data_per_node_with_the_thresholds() -> None:
    _, text = report([fleet()], LIMITS, NOW)
    data = text.splitlines()[0].partition(" | ")[2]
    perf = re.findall(r"'[^']*'=\S*", data)
    assert " ".join(perf) == data and all(PERFDATA.match(item) for item in perf), perf
    assert "'www deploy@web1 lag'=0.0s;60;300;0" in perf
    assert "'www deploy@web2 pending'=310;;;0" in perf
    assert "'www deploy@web3 lag'=720.0s;60;300;0" in perf


def test_no_pipe_in_the_text_after_the_first_line() -> None:
    """The systemd STATUS line and rsync's error both hold '|': neither may leak."""
    _, text = report([fleet()], LIMITS, NOW)
    assert all("|" not in line for line in text.splitlines()[1:]), text
    assert "1/3 nodes in sync; deploy@web3 failing since" in text


@pytest.mark.parametrize("found, level, words", [
    (running("www", node("a")), OK, "1/1 nodes in sync"),
    (running("www", node("a", "behind", behind_since=NOW - 61)), WARNING, "a behind 1m"),
    (running("www", node("a", "behind", behind_since=NOW - 301)), CRITICAL, "a behind 5m"),
    (running("www", node("a", "failing", failing_since=NOW - 100)), WARNING, "a failing 1m"),
    (running("www", node("a", "deletions refused")), CRITICAL, "a deletions refused"),
    (running("www", node("a", "paused"), paused="wpath is gone"), CRITICAL,
     "source paused (wpath is gone)"),
    (running("www", node("a", "incomplete")), CRITICAL, "a incomplete"),
    (Found("www", "/etc/inosync/www.toml", False, False, None, "not running (no x)"),
     CRITICAL, "www not running"),
    (Found("www", "", True, False, None, "not running (no x)"), CRITICAL, "www not running"),
    (Found("www", "/etc/inosync/www.toml", True, True, None, "not running (no x)"),
     UNKNOWN, "www not running"),
])
def test_each_instance_is_judged(found: Found, level: int, words: str) -> None:
    verdict = judge_found(found, LIMITS, NOW)
    assert verdict.level == level and words in verdict.summary, verdict


def test_several_instances_worst_first_and_the_rest_counted() -> None:
    dead = Found("logs", "/etc/inosync/logs.toml", True, False, None, "not running (no x)")
    verdicts = [judge_found(f, LIMITS, NOW) for f in (running("ok1", node("a")), fleet(), dead,
                                                       running("ok2", node("b")))]
    assert first_line(verdicts) == ("INOSYNC CRITICAL - logs not running (no x); www 1/3 "
                                    "nodes in sync, deploy@web3 failing 12m; 2 instances OK")


def test_a_config_dir_that_cannot_be_listed_is_unknown_not_silence() -> None:
    problem = "cannot list /etc/inosync (Permission denied) - the configured instances..."
    level, text = report([running("www", node("a"))], LIMITS, NOW, [problem])
    assert level == UNKNOWN
    assert text.startswith("INOSYNC UNKNOWN - cannot list /etc/inosync (Permission denied)")
    assert "www 1/1 nodes in sync" not in text.splitlines()[0]  # only the instances not OK


def test_enabled_instances_come_from_the_wants_links() -> None:
    assert enabled_names([
        "/etc/systemd/system/multi-user.target.wants/inosync@www.service",
        "/etc/systemd/system/inosync.target.wants/inosync@www.service",
        "/etc/systemd/system/multi-user.target.wants/inosync@a-b.c.service",
        "/etc/systemd/system/multi-user.target.wants/ssh.service",
        "/etc/systemd/system/multi-user.target.wants/inosync@.service",
    ]) == ["a-b.c", "www"]


def test_discovery_joins_configured_enabled_and_running(tmp_path: Path) -> None:
    configs, units, run = tmp_path / "etc", tmp_path / "units", tmp_path / "run"
    configs.mkdir()
    (configs / "www.toml").write_text("")
    (configs / "notes.txt").write_text("")
    (units / "multi-user.target.wants").mkdir(parents=True)
    (units / "multi-user.target.wants" / "inosync@logs.service").symlink_to("/dev/null")
    (run / "live").mkdir(parents=True)
    (run / "live" / "status.json").write_text(json.dumps({"pid": 1, "nodes": [],
                                                          "status": "in sync | x"}))
    (run / "stale").mkdir()
    (run / "stale" / "status.json").write_text(json.dumps({"pid": 2 ** 22 + 1, "nodes": []}))
    assert configured(str(configs)) == {"www": str(configs / "www.toml")}
    everything, problems = discover([], str(configs), str(units), [str(run)])
    assert problems == []
    found = {f.name: f for f in everything}
    assert sorted(found) == ["live", "logs", "stale", "www"]
    assert found["live"].state is not None and not found["live"].expected
    assert found["www"].state is None and found["www"].expected
    assert found["logs"].enabled and found["logs"].state is None
    assert "stale" in found["stale"].why
    rows = {row[0]: row for row in list_rows(list(found.values()))}
    assert rows["live"][3] == "pid 1" and rows["live"][4] == "in sync"
    assert rows["www"][1:4] == (str(configs / "www.toml"), "no", "no")
    assert rows["logs"][2:4] == ("yes", "no")
    named, _ = discover(["www"], str(configs), str(units), [str(run)])
    assert [(f.name, f.named) for f in named] == [("www", True)]
