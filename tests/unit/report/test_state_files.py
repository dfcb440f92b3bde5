"""The metrics file is rewritten at least once a minute even when nothing changes, so its age
(and inosync_metrics_written_timestamp_seconds) tells a live daemon from a dead one."""

from __future__ import annotations

from pathlib import Path

from inosync.report.node_facts import NodeFacts
from inosync.report.state_files import METRICS_MAX_INTERVAL, StatePublisher
from inosync.report.views import Instance

WALL = 1_800_000_000.0


def written_at(path: Path) -> float:
    line = next(ln for ln in path.read_text().splitlines()
                if ln.startswith("inosync_metrics_written_timestamp_seconds{"))
    return float(line.split()[-1])


def test_an_idle_daemon_still_rewrites_its_metrics_once_a_minute(tmp_path: Path) -> None:
    metrics = tmp_path / "inosync.prom"
    publisher = StatePublisher(str(tmp_path), str(metrics))
    instance = Instance("www", "/etc/inosync/www.toml", "/srv/www", 1, WALL)
    nodes = [NodeFacts("web1", "web1:", "ssh", state="in sync", last_success=WALL)]
    publisher.publish(instance, nodes, 0.0, WALL)
    assert written_at(metrics) == WALL
    publisher.publish(instance, nodes, 30.0, WALL + 30)  # nothing new: left alone
    assert written_at(metrics) == WALL
    publisher.publish(instance, nodes, METRICS_MAX_INTERVAL, WALL + METRICS_MAX_INTERVAL)
    assert written_at(metrics) == WALL + METRICS_MAX_INTERVAL
    assert METRICS_MAX_INTERVAL <= 60  # what the rules' InosyncMetricsStale (5 min) assumes
