"""`inosync check` warns before a start when the tree needs more watches than allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_tree, write_config

from inosync import exitcodes
from inosync.commands.check import command as check
from inosync.source import watch_limit as watchlimit


def _config(tmp_path: Path) -> Path:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, dirs=40, files_per_dir=1, depth=2)
    dst.mkdir()
    return write_config(tmp_path / "c.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                        rexcludes=["/cache/"])


def _dirs(src: Path) -> int:
    return 1 + sum(1 for p in src.rglob("*") if p.is_dir() and not p.is_symlink())


def test_check_warns_when_the_tree_needs_more_watches_than_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    needed = _dirs(tmp_path / "src")
    (tmp_path / "src" / "cache" / "a" / "b").mkdir(parents=True)  # excluded: needs none
    # The kernel's limit is shared by everything on this machine; pretend it is low
    # instead of lowering it under other programs.
    monkeypatch.setattr(watchlimit, "watch_limit", lambda: needed - 1)
    assert check.check_command(["-c", str(config)]) == exitcodes.OK  # a warning, not a failure
    err = capsys.readouterr().err
    assert f"{config}: warning: {tmp_path / 'src'}: {needed} directories need one inotify " \
           "watch each" in err
    assert "sysctl -w fs.inotify.max_user_watches=" in err

    monkeypatch.setattr(watchlimit, "watch_limit", lambda: needed)
    assert check.check_command(["-c", str(config)]) == exitcodes.OK
    assert "warning" not in capsys.readouterr().err
