"""Source paths rsync could not read: left out until an event at or above them."""

from __future__ import annotations

import pytest

from inosync.config.load import validate
from inosync.node.runner import NodeRunner


def _runner(unreadable: list[str]) -> NodeRunner:
    cfg = validate({"wpath": "/src", "rpath": "/dst", "rnodes": [""]}, "x.toml",
                   exists=lambda path: True)
    runner = NodeRunner(cfg, cfg.nodes[0], None, lambda: 0)
    stderr = b"".join(b'rsync: [sender] send_files failed to open "/src/' + p.encode()
                      + b'": Permission denied (13)\n' for p in unreadable)
    assert runner.left_out.skip_unreadable(stderr, cfg.wpath, "local") == bool(unreadable)
    return runner


@pytest.mark.parametrize("unreadable, event, left", [
    (["a/f", "a/g", "b"], "a/f", ["a/g", "b"]),        # the path itself
    (["a/f", "a/g", "b"], "a", ["b"]),                 # a directory above it
    (["a/f", "ab/f"], "a", ["ab/f"]),                  # a prefix that is not a parent
    (["a b/f", "a/f"], "a b", ["a/f"]),
    (["a"], "a/f", ["a"]),                             # below: the directory stays out
    (["a/f", "b"], "", []),                            # the root: try everything again
    (["x/y"], "z", ["x/y"]),
])
def test_an_event_forgets_unreadable_paths_at_and_below_it(
        unreadable: list[str], event: str, left: list[str]) -> None:
    runner = _runner(unreadable)
    runner.changed(event)
    assert sorted(runner.unreadable) == left


def test_a_path_inside_an_excluded_directory_is_not_named_again() -> None:
    runner = _runner(["locked"])
    assert not runner.left_out.skip_unreadable(
        b'rsync: [sender] send_files failed to open "/src/locked/f": Permission denied (13)\n',
        "/src", "local")
    assert list(runner.unreadable) == ["locked"]
