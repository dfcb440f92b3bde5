"""STATUS, the state file and the metrics, rendered from per-node facts; status's verdict."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from inosync.commands.status import CRITICAL, OK, WARNING, Limits, judge, with_current_lag
from inosync.report.node_facts import NodeFacts, Verification, derive_state
from inosync.report.views import Instance, metrics_text, state_dict, status_line

NOW = 1_800_000_000.0
INSTANCE = Instance(name="www", config="/etc/inosync/www.toml", wpath="/srv/www", pid=42,
                    started=NOW - 3600, watches=5, overflows=1)


def node(name: str, state: str = "in sync", **fields: object) -> NodeFacts:
    facts = NodeFacts(name, name + ":", "ssh", state=state, last_success=NOW - 10)
    for key, value in fields.items():
        setattr(facts, key, value)
    return facts


def fleet() -> list[NodeFacts]:
    return [
        node("web1"),
        node("web2", "behind", behind_since=NOW - 4.2, pending_paths=310),
        node("web3", "failing", failing_since=NOW - 120, next_retry=NOW + 30,
             last_error_code=255, last_error="ssh: connect to host web3: Connection refused",
             last_error_at=NOW - 5, failures=4, consecutive_failures=4),
    ]


def test_status_lists_the_worst_node_first_and_counts_those_in_sync() -> None:
    text = status_line(INSTANCE, fleet(), NOW)
    assert text.startswith("1/3 nodes in sync | web3 failing since ")
    assert "(exit 255: ssh: connect to host web3: Connection refused), retry" in text
    assert text.index("web3 failing") < text.index("web2 behind 4.2 s (310 paths)")
    assert "5 watches" in text


def test_status_in_sync_and_verified() -> None:
    verified = Verification(NOW - 60, 0, 0)
    drifted = Verification(NOW - 600, 7, 7, ("a", "b"))
    text = status_line(INSTANCE, [node("web1", verification=verified),
                                  node("web2", verification=verified, last_drift=drifted)], NOW)
    assert text.startswith("in sync | 2 nodes | 5 watches | last sync ")
    assert "verified " in text and "drift found: 7 paths on web2" in text


def test_paused_and_refused_states_are_named() -> None:
    paused = Instance(**{**INSTANCE.__dict__, "paused_reason": "it is gone"})
    assert status_line(paused, [node("web1", "paused")], NOW).startswith(
        "paused: source looks wrong (it is gone)")
    text = status_line(INSTANCE, [node("web1", "deletions refused", would_delete=95,
                                       delete_bound=5)], NOW)
    assert "web1 deletions refused (95 would go, max_delete_share allows 5)" in text
    assert not text.startswith("in sync")


def test_state_file_is_json_with_every_node() -> None:
    state = json.loads(json.dumps(state_dict(INSTANCE, fleet(), NOW)))
    assert state["instance"] == "www" and state["pid"] == 42 and len(state["nodes"]) == 3
    web2 = state["nodes"][1]
    assert web2["state"] == "behind" and web2["lag_seconds"] == pytest.approx(4.2)
    assert state["nodes"][2]["last_error"]["code"] == 255


@pytest.mark.parametrize("facts, expected", [
    ([node("a")], OK),
    ([node("a", "behind", behind_since=NOW - 30)], OK),
    ([node("a", "behind", behind_since=NOW - 61)], WARNING),
    ([node("a", "failing", failing_since=NOW - 100)], WARNING),
    ([node("a", "failing", failing_since=NOW - 301)], CRITICAL),
    ([node("a", "deletions refused")], CRITICAL),
    ([node("a", "paused")], CRITICAL),
    ([node("a", "mount lost", lost_mounts=("data",))], CRITICAL),
])
def test_status_verdict_follows_the_monitoring_plugin_convention(
        facts: list[NodeFacts], expected: int) -> None:
    state = with_current_lag(json.loads(json.dumps(state_dict(INSTANCE, facts, NOW))), NOW)
    assert judge(state, Limits(60, 300), NOW) == expected


def test_metrics_parse_with_the_prometheus_parser_and_match_the_facts() -> None:
    nodes = fleet()
    nodes[0].verification = Verification(NOW - 60, 3, 3)
    nodes[0].drift_total = 3
    nodes[0].bytes_sent = 12345
    text = metrics_text(INSTANCE, nodes, NOW)
    samples = {(s.name, s.labels.get("node")): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("inosync_node_lag_seconds", "web2")] == pytest.approx(4.2)
    assert samples[("inosync_node_pending_paths", "web2")] == 310
    assert samples[("inosync_node_up", "web3")] == 0
    assert samples[("inosync_node_up", "web1")] == 1
    assert samples[("inosync_node_sync_failures_total", "web3")] == 4
    assert samples[("inosync_node_bytes_sent_total", "web1")] == 12345
    assert samples[("inosync_node_drift_paths", "web1")] == 3
    assert samples[("inosync_node_drift_paths_total", "web1")] == 3
    assert samples[("inosync_node_last_verify_timestamp_seconds", "web1")] == NOW - 60
    assert samples[("inosync_node_last_success_timestamp_seconds", "web1")] == NOW - 10
    assert samples[("inosync_watches", None)] == 5
    assert samples[("inosync_overflows_total", None)] == 1


def test_metric_labels_with_quotes_and_backslashes_survive() -> None:
    text = metrics_text(INSTANCE, [node('we"b\\1')], NOW)
    names = {s.labels.get("node") for f in text_string_to_metric_families(text)
             for s in f.samples}
    assert 'we"b\\1' in names


@pytest.mark.parametrize("flags, state", [
    ({}, "in sync"),
    ({"pending": True}, "behind"),
    ({"sending": True, "pending": True}, "syncing"),
    ({"started": False, "sending": True}, "starting"),
    ({"refused": True}, "deletions refused"),
    ({"refused": True, "pending": True, "sending": True}, "deletions refused"),
    ({"failing": True, "refused": True}, "failing"),
    ({"paused": True, "failing": True}, "paused"),
    ({"lost_mounts": True}, "mount lost"),
    ({"lost_mounts": True, "pending": True, "sending": True}, "mount lost"),
    ({"lost_mounts": True, "started": False}, "mount lost"),
    ({"lost_mounts": True, "refused": True}, "deletions refused"),
    ({"lost_mounts": True, "failing": True}, "failing"),
])
def test_a_nodes_state_is_the_worst_that_holds(flags: dict[str, bool], state: str) -> None:
    given = {"paused": False, "failing": False, "refused": False, "started": True,
             "sending": False, "pending": False, "lost_mounts": False, **flags}
    assert derive_state(**given) == state


def test_a_lost_mount_is_named_in_every_view_and_is_not_in_sync() -> None:
    lost = node("web1", "mount lost", lost_mounts=("data", "media/nfs", "x"))
    text = status_line(INSTANCE, [lost, node("web2")], NOW)
    assert text.startswith("1/2 nodes in sync | web1 mount lost (data, media/nfs and 1 more: "
                           "nothing mounted, kept on the node)")
    state = json.loads(json.dumps(state_dict(INSTANCE, [lost], NOW)))
    assert state["nodes"][0]["lost_mounts"] == ["data", "media/nfs", "x"]
    samples = {(s.name, s.labels.get("node")): s.value
               for family in text_string_to_metric_families(
                   metrics_text(INSTANCE, [lost, node("web2")], NOW))
               for s in family.samples}
    assert samples[("inosync_node_lost_mounts", "web1")] == 3
    assert samples[("inosync_node_lost_mounts", "web2")] == 0
    assert samples[("inosync_node_in_sync", "web1")] == 0
