"""Node probes of `inosync check`: the rsync version rule and the writability script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from inosync.commands.check.command import rsync_version_problem, writable_script


@pytest.mark.parametrize("line, bad", [
    ("rsync  version 3.5.0  protocol version 32", False),
    ("rsync  version 3.2.3  protocol version 31", False),
    ("rsync  version 3.2.2  protocol version 31", True),
    ("rsync  version 3.4.3  protocol version 32", True),
    ("rsync  version 3.4.4  protocol version 32", False),
    ("something else", False),
])
def test_rsync_versions_with_broken_delete_missing_args(line: str, bad: bool) -> None:
    assert bool(rsync_version_problem(line)) is bad


def test_writable_script_on_real_directories(tmp_path: Path) -> None:
    def run(rpath: Path) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["sh", "-s"], input=writable_script(str(rpath)),
                              capture_output=True)

    ok = run(tmp_path / "new-mirror")
    assert ok.returncode == 0 and b"rsync" in ok.stdout and b"version" in ok.stdout
    missing = run(tmp_path / "no" / "such" / "dir")
    assert missing.returncode == 4 and b"parent is not a writable directory" in missing.stdout
