"""The packages build from an unpacked release tarball, as the README says, without git.

scripts/release-tarball makes the tarball from this tree; the test unpacks it, hides git
(bind-mounting /bin/false over it in a mount namespace of the build's own) and runs the
README's command in it. The tarball the build makes again must be the same bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: hides git with a bind mount in a mount namespace"
    for tool in ("dpkg-buildpackage", "rpmbuild", "lintian", "rpmlint", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is missing: run scripts/setup-packaging"
    return None


pytestmark = [pytest.mark.system,
              pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))]


def _readme_build_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Building the packages", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README.md: no sh block under 'Building the packages'"
    return match.group(1)


def test_packages_build_from_the_release_tarball_without_git(tmp_path: Path) -> None:
    made = subprocess.run(["bash", str(REPO / "scripts" / "release-tarball")],
                          capture_output=True, text=True, check=True).stdout.strip()
    tarball = Path(made)
    version = tarball.name.removeprefix("inosync-").removesuffix(".tar.gz")
    block = _readme_build_block()
    # The README's commands, as the test runs them.
    assert f"tar -xzf inosync-{version}.tar.gz && cd inosync-{version}" in block, block
    assert "bash scripts/setup-packaging" in block
    assert "bash scripts/build-packages" in block
    assert f"apt-get install ./dist/inosync_{version}-1_all.deb" in block

    subprocess.run(["tar", "-xzf", str(tarball)], cwd=tmp_path, check=True)
    tree = tmp_path / f"inosync-{version}"
    assert not (tree / ".git").exists()
    git = shutil.which("git", path="/usr/sbin:/usr/bin:/sbin:/bin")
    hide_git = f'mount --bind /bin/false "{git}" && ' if git else ""
    build = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            hide_git + "exec bash scripts/build-packages"],
                           cwd=tree, capture_output=True, text=True, timeout=900, check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    print(build.stdout)
    dist = tree / "dist"
    assert (dist / tarball.name).read_bytes() == tarball.read_bytes(), \
        "the unpacked release tarball made a different tarball"
    for name in (f"inosync_{version}-1.dsc", f"inosync_{version}-1_all.deb",
                 f"inosync_{version}.orig.tar.gz", f"inosync-{version}-1.src.rpm",
                 f"inosync-{version}-1.noarch.rpm"):
        assert (dist / name).exists(), f"{name} not built from the release tarball"
