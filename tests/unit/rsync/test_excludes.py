"""The exclude matcher, as a table and against what real rsync transfers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from inosync.rsync.excludes import ExcludeMatcher

TABLE = [
    ("*.tmp", "a.tmp", False, True), ("*.tmp", "x/y/a.tmp", False, True),
    ("*.tmp", "a.tmpx", False, False), ("/cache/", "cache", True, True),
    ("/cache/", "cache", False, False), ("/cache/", "x/cache", True, False),
    ("/cache/", "cache/deep/f", False, True), ("cache/", "x/cache/f", False, True),
    ("tmp/**", "tmp/x", False, True), ("tmp/**", "a/tmp/x/y", False, True),
    ("tmp/**", "tmp", True, False), ("dir/***", "dir", True, True),
    ("dir/***", "dir/a/b", False, True), ("foo/bar", "x/foo/bar", False, True),
    ("foo/bar", "xfoo/bar", False, False), ("?.c", "a.c", False, True),
    ("?.c", "ab.c", False, False), ("[ab]*", "b1", False, True), ("[!ab]*", "b1", False, False),
    ("a\\*b", "a*b", False, True), ("a\\*b", "axb", False, False), ("*", "anything", False, True),
    ("/a*/b", "ax/b", False, True), ("/a*/b", "q/ax/b", False, False),
    ("**/deep", "x/y/deep", False, True), ("*.log", "logs/app.log/x", False, True),
]


@pytest.mark.parametrize("pattern, path, is_dir, expected", TABLE)
def test_rsync_pattern_rules(pattern: str, path: str, is_dir: bool, expected: bool) -> None:
    assert ExcludeMatcher([pattern]).excluded(path, is_dir) is expected


def test_top_is_never_excluded() -> None:
    assert not ExcludeMatcher(["*"]).excluded("", True)


NAMES = ["a.tmp", "b.txt", "cache/x", "cache/sub/y.tmp", "src/cache/z", "tmp/f", "a/tmp/g/h",
         "dir/one", "dir2/two", "foo/bar", "q/foo/bar", "q/foobar", "logs/app.log/inner",
         "x/y.c", "xy.c", "[odd]/f", "sp ace/f", "deep/er/est/file.o", "deep/file.o",
         "bin/a.bin", "Makefile", ".hidden/f", "a*b", "ab"]
PATTERN_SETS = [
    ["*.tmp"], ["/cache/"], ["cache/"], ["tmp/**"], ["dir/***"], ["foo/bar"], ["?.c"],
    ["*.log"], ["[[]odd]"], ["deep/**/file.o"], ["**/file.o"], ["/deep/*.o"], ["*.bin", ".*"],
    ["sp ace/"], ["a\\*b"], ["[ab]"], ["*/"], ["/a/tmp/**"], ["dir*"], ["x/*"],
]


def tree_paths(root: Path) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("src")
    for name in NAMES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    return root


@pytest.mark.parametrize("patterns", PATTERN_SETS, ids=[" ".join(p) for p in PATTERN_SETS])
def test_matcher_agrees_with_real_rsync(source: Path, tmp_path: Path,
                                        patterns: list[str]) -> None:
    dest = tmp_path / "dst"
    argv = ["rsync", "-a"] + [f"--exclude={p}" for p in patterns] + [f"{source}/", f"{dest}/"]
    subprocess.run(argv, check=True)
    matcher = ExcludeMatcher(patterns)
    expected = {p for p in tree_paths(source)
                if not matcher.excluded(p, (source / p).is_dir())}
    assert tree_paths(dest) == expected
