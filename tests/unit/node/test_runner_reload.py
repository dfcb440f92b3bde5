"""A reload's config reaches the runner's parts: the delete bound and the verification."""

from __future__ import annotations

from dataclasses import replace

from inosync.config.load import validate
from inosync.node.runner import NodeRunner


def test_a_reloaded_share_and_interval_are_the_ones_used() -> None:
    cfg = validate({"wpath": "/src", "rpath": "/dst", "rnodes": [""],
                    "max_delete_share": 0.2, "verify_interval": "1h"}, "x.toml",
                   exists=lambda path: True)
    runner = NodeRunner(cfg, cfg.nodes[0], None, lambda: 1000)
    assert runner.bound.begin()
    runner.bound.counted(0, dry_run=False)
    assert runner.bound.limit == 250
    runner.cfg = replace(cfg, max_delete_share=1.0, verify_interval=0.0)
    assert not runner.bound.begin() and runner.bound.limit == -1
    runner.schedule_verification(100.0)
    assert runner.verifier.due_at is None
