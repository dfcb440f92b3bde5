"""A bounded full sync counts its deletions in the walk that sends: an rsync that deletes
nothing and says how many it held back. Nothing to delete: that one run is all; within the
bound a second run deletes; over it nothing is deleted and nothing more runs. rsync runs
are counted by an `rsync` that logs its argv, then is the real one."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import logging_rsync, snapshot, write

FILES = 20


@pytest.fixture(params=("local", "ssh", "rsyncd", "restricted"))
def node_kind(request: pytest.FixtureRequest) -> str:
    """Every kind of node: an rsync daemon's client exits 0 where the others exit 25, and an
    rrsync node must let --max-delete through."""
    return str(request.param)


def whole_tree_runs(runs: Path, src: Path) -> list[str]:
    """The runs over the whole source tree (batch syncs, probes and --version left out)."""
    lines = runs.read_text().splitlines() if runs.exists() else []
    return [line for line in lines if f" -- {src}/ " in line and "--files-from" not in line]


def in_sync_tree(root: Path) -> None:
    for index in range(FILES):
        write(root / f"d{index % 4}" / f"f{index:02}", b"%d" % index)


def test_a_full_sync_with_nothing_to_delete_is_one_rsync_run(mirror, tmp_path: Path) -> None:
    script, runs = logging_rsync(tmp_path)
    m = mirror(rsync=str(script))
    in_sync_tree(m.src)
    in_sync_tree(m.dst)
    write(m.src / "d0" / "f00", b"changed on the source")
    write(m.src / "new", b"new on the source")
    d = m.start()
    d.wait_log(lambda text: "full sync done" in text, 20, "the full sync")
    m.converge(what="the one full sync")
    d.wait_in_sync(10)
    full = whole_tree_runs(runs, m.src)
    assert len(full) == 1, full
    assert "--delete" in full[0] and "--max-delete=0" in full[0] and "--dry-run" not in full[0]
    assert "held back" not in d.log() and "refused" not in d.log()


def test_deletions_within_the_bound_are_made_by_a_second_run(mirror, tmp_path: Path) -> None:
    script, runs = logging_rsync(tmp_path)
    m = mirror(rsync=str(script), max_delete_share=0.5)
    in_sync_tree(m.src)
    in_sync_tree(m.dst)
    write(m.src / "new", b"new on the source")
    for index in range(3):
        write(m.dst / f"stale{index}", b"only on the node")
    write(m.dst / "stale-dir" / "a", b"only on the node")  # a tree: 3 entries, its top
    write(m.dst / "stale-dir" / "sub" / "b", b"only on the node")  # not in rsync's count
    d = m.start()
    m.converge(what="the deletions")
    d.wait_in_sync(10)
    full = whole_tree_runs(runs, m.src)
    assert len(full) == 2, full
    assert "--max-delete=0" in full[0]
    assert "--delete" in full[1] and "--max-delete=0" not in full[1]
    assert "held back 7 deletions" in d.log()
    assert "refused" not in d.log()


def test_deletions_over_the_bound_are_refused_and_new_files_still_sent(
        mirror, tmp_path: Path) -> None:
    script, runs = logging_rsync(tmp_path)
    m = mirror(rsync=str(script), max_delete_share=0.5)
    for index in range(5):
        write(m.src / f"f{index}", b"%d" % index)
        write(m.dst / f"f{index}", b"%d" % index)
    write(m.src / "f0", b"changed on the source")
    write(m.src / "new", b"new on the source")
    for index in range(30):
        write(m.dst / "old" / f"stale{index:02}", b"only on the node")
    before = {rel: entry for rel, entry in snapshot(m.dst).items() if rel.startswith(b"old")}
    d = m.start()
    d.wait_status(lambda s: "deletions refused" in s, 20, "the refusal in STATUS")
    assert "a full sync would delete 31 entries" in d.log()
    assert (m.dst / "new").read_bytes() == b"new on the source"
    assert (m.dst / "f0").read_bytes() == b"changed on the source"
    after = {rel: entry for rel, entry in snapshot(m.dst).items() if rel.startswith(b"old")}
    assert after == before  # all or nothing: not one deletion
    full = whole_tree_runs(runs, m.src)
    assert len(full) == 1 and "--max-delete=0" in full[0], full


def test_a_directory_in_a_files_way_is_replaced_by_the_second_run(
        mirror, tmp_path: Path) -> None:
    """Deleting nothing, the first run cannot make way for the file (rsync exit 23); the
    deletions it held back are within the bound, so the second run deletes and sends it."""
    script, runs = logging_rsync(tmp_path)
    m = mirror(rsync=str(script), max_delete_share=0.5)
    in_sync_tree(m.src)
    in_sync_tree(m.dst)
    write(m.src / "was-a-dir", b"a file now")
    write(m.dst / "was-a-dir" / "inner", b"only on the node")
    d = m.start()
    m.converge(what="the file in the directory's place")
    d.wait_in_sync(10)
    assert (m.dst / "was-a-dir").read_bytes() == b"a file now"
    assert len(whole_tree_runs(runs, m.src)) == 2
    assert "retrying" not in d.log()
