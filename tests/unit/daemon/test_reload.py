"""A reload's plan, from the old config and the new one."""

from __future__ import annotations

from typing import Any

import pytest

from inosync.config.load import Config, Node, validate
from inosync.daemon.reload import plan

BASE: dict[str, Any] = {"wpath": "/srv/www", "rpath": "/srv/mirror", "rnodes": ["web1:", "web2:"]}


def config(**keys: Any) -> Config:
    return validate({**BASE, **keys}, "www.toml", exists=lambda path: True)


def names(nodes: tuple[Node, ...]) -> list[str]:
    return [node.name.split(":")[0] or node.kind for node in nodes]


@pytest.mark.parametrize(("new", "kept", "removed", "added"), [
    ({}, ["web1", "web2"], [], []),
    ({"rnodes": ["web2:", "web3:"]}, ["web2"], ["web1"], ["web3"]),
    ({"rnodes": ["web1:", "web2:", ""]}, ["web1", "web2"], [], ["local"]),
    ({"rnodes": ["web1:"], "rpath": "/srv/other"}, [], ["web1", "web2"], ["web1"]),
])
def test_nodes_kept_removed_and_added(new: dict[str, Any], kept: list[str],
                                      removed: list[str], added: list[str]) -> None:
    old = config()
    change = plan(old, config(**new), old.nodes)
    assert (names(change.kept), names(change.removed), names(change.added)) == (
        kept, removed, added)


@pytest.mark.parametrize(("new", "rewatch", "same_wpath", "verification", "metrics"), [
    ({}, False, True, False, False),
    ({"rexcludes": ["*.tmp"]}, True, True, False, False),
    ({"wpath": "/srv/new"}, True, False, False, False),
    ({"verify_interval": "10m"}, False, True, True, False),
    ({"metrics_file": "/var/lib/prometheus/node-exporter/www.prom"}, False, True, False, True),
])
def test_what_else_follows(new: dict[str, Any], rewatch: bool, same_wpath: bool,
                           verification: bool, metrics: bool) -> None:
    old = config()
    change = plan(old, config(**new), old.nodes)
    assert (change.rewatch, change.same_wpath, change.reschedule_verification,
            change.new_metrics_file) == (rewatch, same_wpath, verification, metrics)
