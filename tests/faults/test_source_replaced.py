"""A source that is replaced, emptied or covered by a mount: followed when it holds a tree,
paused (deleting nothing) while it is missing or empty."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.tree import wait_converged

from faults.support import local_mirror, running, wait_for


def fill(top: Path, count: int, text: str = "v1") -> None:
    (top / "sub").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (top / "sub" / f"f{index}").write_text(f"{text} {index}")


def test_a_tree_swapped_in_by_a_deploy_is_followed(tmp_path: Path) -> None:
    src, dst, cfg = local_mirror(tmp_path)
    fill(src, 20)
    with running(tmp_path, cfg) as daemon:
        wait_converged(src, dst, 20, what="the initial sync")
        old = tmp_path / "src.old"
        src.rename(old)  # mv src src.old && mkdir src && cp -a src.old/. src
        daemon.wait_log(lambda text: "looks wrong" in text, 10, "the pause")
        src.mkdir()
        shutil.copytree(old, src, dirs_exist_ok=True, symlinks=True)
        (src / "sub" / "f0").write_text("the new release")
        daemon.wait_log(lambda text: "new non-empty directory" in text, 10, "the follow")
        wait_converged(src, dst, 20, what="the swapped-in tree")
        (src / "after-the-swap").write_text("watched")
        wait_converged(src, dst, 10, what="a change in the new tree")


def test_an_empty_replacement_deletes_nothing_and_stays_paused(tmp_path: Path) -> None:
    src, dst, cfg = local_mirror(tmp_path)
    fill(src, 20)
    with running(tmp_path, cfg) as daemon:
        wait_converged(src, dst, 20, what="the initial sync")
        src.rename(tmp_path / "src.old")
        src.mkdir()  # empty: a deploy that failed half-way
        daemon.wait_log(lambda text: "looks wrong" in text, 10, "the pause")
        daemon.reload()  # a reload looks again, and still refuses an empty source
        daemon.wait_log(lambda text: "still missing or empty" in text, 10, "the refusal")
        daemon.wait_status(lambda s: s.startswith("paused"), 10, "paused in STATUS")
        assert len(list((dst / "sub").iterdir())) == 20
        (src / "one").write_text("the first file of a new tree")  # now it holds something:
        wait_for(lambda: (dst / "one").exists(), 15, "the new tree followed")
        assert len(list((dst / "sub").iterdir())) == 20  # 20 deletions > the bound: refused
        daemon.wait_status(lambda s: "deletions refused" in s, 10, "the refusal in STATUS")


def test_a_missing_source_stays_paused_until_reload_finds_it(tmp_path: Path) -> None:
    src, dst, cfg = local_mirror(tmp_path)
    fill(src, 5)
    with running(tmp_path, cfg) as daemon:
        wait_converged(src, dst, 20, what="the initial sync")
        shutil.rmtree(src)
        daemon.wait_log(lambda text: "looks wrong" in text, 10, "the pause")
        daemon.reload()
        daemon.wait_log(lambda text: "still missing or empty" in text, 10, "still paused")
        assert len(list((dst / "sub").iterdir())) == 5
        fill(src, 5, "v2")
        wait_converged(src, dst, 20, what="the source back with new content")


@pytest.mark.skipif(shutil.which("mount") is None, reason="needs mount")
def test_a_mount_with_content_on_top_of_wpath_is_followed(tmp_path: Path) -> None:
    src, dst, cfg = local_mirror(tmp_path)
    fill(src, 5)
    other = tmp_path / "export"
    fill(other, 8, "from the mount")
    with running(tmp_path, cfg) as daemon:
        wait_converged(src, dst, 20, what="the initial sync")
        subprocess.run(["mount", "--bind", str(other), str(src)], check=True)
        try:
            daemon.wait_log(lambda text: "new non-empty directory" in text, 10, "the follow")
            wait_converged(src, dst, 20, what="the mounted tree")
            (src / "sub" / "written-on-the-mount").write_text("watched too")
            wait_converged(src, dst, 10, what="a change on the mount")
        finally:
            subprocess.run(["umount", "--lazy", str(src)], check=True)
