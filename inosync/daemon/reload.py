"""What a reload changes, decided from the old config and the new one alone (pure): the
nodes kept, removed and added, whether the tree is watched afresh, and what else follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inosync.config.load import Config, Node


@dataclass(frozen=True)
class ReloadPlan:
    kept: tuple[Node, ...]  # running nodes still configured: they keep their state
    removed: tuple[Node, ...]  # running nodes no longer configured: their children stop
    added: tuple[Node, ...]  # configured nodes not running yet
    rewatch: bool  # wpath, the excludes or the watcher changed: watched afresh
    same_wpath: bool  # what the loop saw of mounts below wpath stays true
    reschedule_verification: bool  # the interval changed: the next one is due anew
    new_metrics_file: bool  # the old file is removed, the new one written


def plan(old: Config, new: Config, running: Sequence[Node]) -> ReloadPlan:
    """`running`: each runner's node as the config named it (its identity)."""
    kept = tuple(node for node in running if node in new.nodes)
    return ReloadPlan(
        kept=kept,
        removed=tuple(node for node in running if node not in new.nodes),
        added=tuple(node for node in new.nodes if node not in kept),
        rewatch=(new.wpath, new.rexcludes, new.watcher) != (old.wpath, old.rexcludes,
                                                             old.watcher),
        same_wpath=new.wpath == old.wpath,
        reschedule_verification=new.verify_interval != old.verify_interval,
        new_metrics_file=new.metrics_file != old.metrics_file)
