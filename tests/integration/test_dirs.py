"""Directories: new subtrees written right after mkdir, whole-tree deletes, type changes."""

from __future__ import annotations

import os
import shutil

from helpers import make_tree, write


def test_files_written_right_after_mkdir_p_are_not_missed(mirror) -> None:
    m = mirror()
    m.start()
    for i in range(10):
        os.makedirs(m.src / f"a{i}/b/c")
        write(m.src / f"a{i}/b/c/f", b"written right after mkdir -p")
        write(m.src / f"a{i}/b/g", b"and one level up")
    m.converge(what="mkdir -p + write at once")
    # A whole tree appearing at once, faster than watches can be added.
    make_tree(m.src / "burst", dirs=40, files_per_dir=5, depth=2)
    m.converge(what="a tree made at full speed")


def test_deleting_whole_trees_propagates(mirror) -> None:
    m = mirror()
    make_tree(m.src / "doomed", dirs=30, files_per_dir=4, depth=2)
    make_tree(m.src / "kept", dirs=3, files_per_dir=2, depth=2)
    write(m.src / "doomed-too/x/y/z/f", b"deep")
    m.start()
    m.converge()
    shutil.rmtree(m.src / "doomed")
    m.converge(what="rm -rf of a big tree")
    shutil.rmtree(m.src / "doomed-too/x")
    m.converge(what="rm -rf of a deep chain")
    assert not (m.dst / "doomed").exists()
    assert (m.dst / "kept").is_dir()


def test_file_replaced_by_dir_and_back(mirror) -> None:
    m = mirror()
    write(m.src / "thing", b"a file")
    m.start()
    m.converge()
    os.unlink(m.src / "thing")
    write(m.src / "thing/inner/f", b"now a dir")
    m.converge(what="file -> dir")
    shutil.rmtree(m.src / "thing")
    write(m.src / "thing", b"a file again")
    m.converge(what="dir -> file")
    os.unlink(m.src / "thing")
    os.symlink("elsewhere", m.src / "thing")
    m.converge(what="file -> symlink")
    os.unlink(m.src / "thing")
    write(m.src / "thing/x", b"dir again")
    m.converge(what="symlink -> dir")


def test_empty_dirs_and_dir_modes_are_mirrored(mirror) -> None:
    m = mirror()
    m.start()
    os.makedirs(m.src / "e1/e2/e3")
    os.chmod(m.src / "e1/e2", 0o700)
    m.converge(what="empty dirs")
    os.chmod(m.src / "e1", 0o750)
    m.converge(what="chmod of a dir")
    os.rmdir(m.src / "e1/e2/e3")
    m.converge(what="rmdir")


def test_changes_below_a_dir_that_became_a_file_in_the_same_batch(mirror) -> None:
    m = mirror()
    write(m.src / "d/sub/f", b"x")
    write(m.src / "other", b"to be deleted")
    m.start()
    m.converge()
    write(m.src / "d/sub/f", b"changed")
    write(m.src / "d/sub/g", b"new")
    shutil.rmtree(m.src / "d")
    write(m.src / "d", b"now a file")
    os.unlink(m.src / "other")
    m.converge(what="dir replaced by a file right after changes below it")
