"""What a hook run is told: syncs merged while it ran, each path once, a full sync (or too
many paths) as "everything", and the environment and stdin that carry it."""

from __future__ import annotations

from inosync.config.load import validate
from inosync.node.hook_input import MAX_LISTED_PATHS, HookRun, hook_env, synced_paths

CFG = validate({"wpath": "/srv/www", "rpath": "/srv/mirror", "rnodes": ["deploy@web1:"],
                "on_sync": ["/bin/purge"]}, "/etc/inosync/www.toml", exists=lambda p: True)


def test_merged_syncs_tell_each_path_once_in_order_and_add_up_the_bytes() -> None:
    run = HookRun()
    run.add("batch", ["a.html", "d"], 0, 100)
    run.add("repair", ["d", "b.html"], 24, None)
    assert list(run.paths) == ["a.html", "d", "b.html"]
    assert (run.syncs, run.code, run.sent, run.kind, run.everything) == (
        2, 24, 100, "batch", False)
    assert run.stdin() == b"a.html\0d\0b.html\0"


def test_a_full_sync_among_them_makes_it_everything() -> None:
    run = HookRun()
    run.add("batch", ["a"], 0, 1)
    run.add("full", [], 0, 5)
    run.add("batch", ["b"], 0, 1)
    assert run.everything and run.kind == "full" and run.stdin() == b""


def test_more_paths_than_anyone_would_list_are_told_as_everything() -> None:
    run = HookRun()
    run.add("batch", [f"f{i}" for i in range(MAX_LISTED_PATHS + 1)], 0, 1)
    assert run.everything and not run.paths and run.kind == "batch"


def test_a_repair_alone_is_named_a_repair() -> None:
    run = HookRun()
    run.add("repair", ["x"], 0, 1)
    assert run.kind == "repair"


def test_the_environment_names_the_node_and_the_syncs_over_the_daemons_own() -> None:
    run = HookRun()
    run.add("batch", ["a", "b"], 0, 42)
    run.add("repair", ["c"], 0, 8)
    env = hook_env(CFG, CFG.nodes[0], run, "www", {"PATH": "/usr/bin", "INOSYNC_X": "kept"})
    assert env["PATH"] == "/usr/bin" and env["INOSYNC_X"] == "kept"
    assert {k: env[k] for k in ("INOSYNC_INSTANCE", "INOSYNC_NODE", "INOSYNC_NODE_SPEC",
                                "INOSYNC_NODE_KIND", "INOSYNC_NODE_HOST",
                                "INOSYNC_SYNC_KIND", "INOSYNC_SYNC_KINDS", "INOSYNC_SYNCS",
                                "INOSYNC_PATHS", "INOSYNC_PATH_COUNT", "INOSYNC_BYTES_SENT",
                                "INOSYNC_RSYNC_EXIT", "INOSYNC_WPATH", "INOSYNC_RPATH")} == {
        "INOSYNC_INSTANCE": "www", "INOSYNC_NODE": "deploy@web1",
        "INOSYNC_NODE_SPEC": "deploy@web1:", "INOSYNC_NODE_KIND": "ssh",
        "INOSYNC_NODE_HOST": "deploy@web1", "INOSYNC_SYNC_KIND": "batch",
        "INOSYNC_SYNC_KINDS": "batch,repair", "INOSYNC_SYNCS": "2",
        "INOSYNC_PATHS": "listed", "INOSYNC_PATH_COUNT": "3", "INOSYNC_BYTES_SENT": "50",
        "INOSYNC_RSYNC_EXIT": "0", "INOSYNC_WPATH": "/srv/www",
        "INOSYNC_RPATH": "/srv/mirror"}


def test_a_batch_tells_both_names_of_each_rename_then_its_paths() -> None:
    assert synced_paths(["d/x", "new"], [("old", "new"), ("a", "b")]) == [
        "old", "new", "a", "b", "d/x"]
