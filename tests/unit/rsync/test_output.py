"""Deletions a --max-delete run held back, read from what rsync printed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from inosync.rsync.output import deletions_held_back

STOPPED = b"Deletions stopped due to --max-delete limit (%d skipped)\n"


def kept(*dirs: bytes) -> bytes:
    return b"".join(b"cannot delete non-empty directory: " + d + b"\n" for d in dirs)


@pytest.mark.parametrize("output, held_back", [
    (b"", None),  # nothing to delete: rsync says nothing of it
    (b"\nsent 103 bytes  received 19 bytes  244.00 bytes/sec\n", None),
    (STOPPED % 3, 3),  # three files
    (STOPPED % 0, 0),
    (kept(b"d") + STOPPED % 4, 5),  # d's four entries skipped, d itself only named
    # nested: d/e is counted by rsync (and named), d only named
    (kept(b"d/e", b"d") + b"\n" + STOPPED % 11, 12),
    (kept(b"a/old/deep", b"a/old", b"b") + STOPPED % 7, 9),  # two trees kept whole
    (kept(b"x\\#012y/sub", b"x\\#012y") + STOPPED % 2, 3),  # names as rsync escapes them
    (kept(b"tail /sub", b"tail ") + STOPPED % 2, 3),
    (kept(b"prot") + STOPPED % 1, 2),  # kept for an excluded file: one more, never fewer
    (kept(b"prot"), None),  # only kept for an excluded file: nothing held back
    (b"rsync: some other message (12 skipped)\n", None),
    (b"[receiver] " + STOPPED % 2 + b"[receiver] " + kept(b"d"), 3),  # prefixed lines
])
def test_deletions_held_back_add_the_tops_of_kept_trees_to_rsyncs_count(
        output: bytes, held_back: int | None) -> None:
    assert deletions_held_back(output) == held_back


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(os.fsencode(rel))


@pytest.mark.parametrize("stale", [
    [],
    ["z"],
    ["d/x0", "d/x1", "d/e/y0", "d/e/y1", "z"],
    ["a/old/deep/q", "a/old/r", "b/c/d/e"],
    [os.fsdecode(b"n\xffl\nine/f"), "tail /f"],
])
def test_a_max_delete_0_run_holds_back_what_a_dry_run_would_delete(
        tmp_path: Path, stale: list[str]) -> None:
    """Real rsync: its own count plus the kept tops is the dry run's count, exactly."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src, ["a/keep", "b/keep", "f"])
    _tree(dst, ["a/keep", "b/keep", "f", *stale])
    dry = subprocess.run(["rsync", "-a", "--delete", "--dry-run", "--itemize-changes",
                          "--out-format=%i %n", f"{src}/", f"{dst}/"], capture_output=True)
    would = dry.stdout.count(b"*deleting")
    held = subprocess.run(["rsync", "-a", "--delete", "--max-delete=0", f"{src}/", f"{dst}/"],
                          capture_output=True)
    assert held.returncode == (25 if stale else 0), held.stderr
    found = deletions_held_back(held.stdout + b"\n" + held.stderr)
    assert (found or 0) == would == len(stale) + len(
        {parent for rel in stale for parent in _parents(rel)} - {"a", "b"})
    assert sorted(_files(dst)) == sorted(["a/keep", "b/keep", "f", *stale])  # none deleted


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


def _files(root: Path) -> list[str]:
    return [os.fsdecode(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
