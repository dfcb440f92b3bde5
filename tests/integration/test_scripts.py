"""scripts/setup decides what to install from pyproject.toml, so the two cannot drift.

The interpreter under test is the real python3 started with -S (no site-packages) and a
directory of real distribution metadata on PYTHONPATH: an environment that has exactly the
distributions a test lists, with nothing installed or removed on this machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
CHECKER = REPO / "scripts" / "missing_requirements.py"

# What `bash scripts/setup test` leaves behind, as (distribution, version).
COMPLETE = {"inotify_simple": "2.0.1", "systemd-python": "235", "pytest": "8.3.0",
            "hypothesis": "6.100.0", "ruff": "0.5.0", "mypy": "1.10.0",
            "prometheus_client": "0.20.0"}


def make_site(site: Path, dists: dict[str, str], inosync_from: Path | None = REPO,
              editable: bool = True) -> Path:
    """A directory holding the metadata of `dists` and of inosync installed from a checkout."""
    site.mkdir()
    for name, version in dists.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\n"
                                       f"Version: {version}\n")
    if inosync_from is not None:
        info = site / "inosync-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: inosync\nVersion: 0.1.0\n")
        (info / "direct_url.json").write_text(json.dumps(
            {"url": inosync_from.as_uri(), "dir_info": {"editable": editable}}))
    return site


def missing(site: Path, *extras: str) -> list[str]:
    done = subprocess.run([sys.executable, "-S", str(CHECKER), *extras], capture_output=True,
                          text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def pyproject_requirements(*extras: str) -> list[str]:
    """The requirement strings pyproject.toml lists, for this Python."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return [r for r in wanted if "python_version < '3.11'" not in r]


def test_setup_checks_every_requirement_pyproject_lists(tmp_path: Path) -> None:
    """In an empty environment every dependency and every test tool is reported, so a tool
    added to [project.optional-dependencies].test is checked without touching the script."""
    reported = missing(make_site(tmp_path / "site", {}, inosync_from=None), "test")
    assert reported == [f"{r} (not installed)" for r in pyproject_requirements("test")] + \
        ["inosync (not installed)"]
    assert {"pytest", "hypothesis", "ruff", "mypy"} <= {re.split(r"[<>=~!;\[ ]", line)[0]
                                                         for line in reported}


@pytest.mark.parametrize(("dists", "extras", "expected"), [
    pytest.param(COMPLETE, ("test",), [], id="complete"),
    pytest.param({k: v for k, v in COMPLETE.items() if k not in ("ruff", "mypy")}, ("test",),
                 ["ruff>=0.4 (not installed)", "mypy>=1.8 (not installed)"],
                 id="only-pytest-and-hypothesis"),
    pytest.param({**COMPLETE, "mypy": "1.5.1"}, ("test",), ["mypy>=1.8 (1.5.1 installed)"],
                 id="mypy-too-old"),
    pytest.param({"inotify_simple": "2.0.1", "systemd-python": "235"}, (), [],
                 id="running-needs-no-test-tools"),
    pytest.param({"systemd-python": "235"}, (), ["inotify_simple>=1.3 (not installed)"],
                 id="runtime-dependency-missing"),
])
def test_missing_requirements(tmp_path: Path, dists: dict[str, str], extras: tuple[str, ...],
                              expected: list[str]) -> None:
    assert missing(make_site(tmp_path / "site", dists), *extras) == expected


@pytest.mark.parametrize("editable", [True, False])
def test_inosync_must_be_an_editable_install_of_this_checkout(tmp_path: Path,
                                                               editable: bool) -> None:
    """Otherwise `python -m inosync` outside the checkout runs some other copy."""
    other = tmp_path / "other-checkout"
    other.mkdir()
    site = make_site(tmp_path / "site", COMPLETE, inosync_from=REPO if not editable else other,
                     editable=editable)
    assert missing(site, "test") == \
        [f"inosync (not installed in editable mode from {REPO})"]


def run_setup(tmp_path: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """scripts/setup test with a python3 -S that sees only `site` (and has no pip)."""
    apt = re.findall(r'^\s*apt_install "[^"]*" (.*?)$',
                     (REPO / "scripts" / "setup").read_text().replace("\\\n", " "), re.M)
    packages = [p for line in apt for p in line.split()]
    absent = [p for p in packages if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
    ).stdout != "install ok installed" and p != "python3-venv"]
    if absent:
        pytest.skip(f"scripts/setup would install {absent} with apt; run it first")
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} -S \"$@\"\n")
    python.chmod(0o755)
    logs = tmp_path / "logs"
    logs.mkdir()
    return subprocess.run(["bash", str(REPO / "scripts" / "setup"), "test"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "INOSYNC_PYTHON": str(python),
                               "INOSYNC_SETUP_LOGS": str(logs)})


def test_setup_does_nothing_and_names_the_interpreter_when_all_is_there(tmp_path: Path) -> None:
    done = run_setup(tmp_path, make_site(tmp_path / "site", COMPLETE))
    assert (done.returncode, done.stderr, done.stdout) == (0, "", f"{tmp_path / 'python'}\n")


def test_setup_installs_the_missing_test_tools_and_says_why_in_one_line(tmp_path: Path) -> None:
    """The machine that had pytest and hypothesis but not ruff: setup now runs pip (which
    this interpreter lacks, so pip's failure is shown from its log)."""
    site = make_site(tmp_path / "site",
                     {k: v for k, v in COMPLETE.items() if k not in ("ruff", "mypy")})
    done = run_setup(tmp_path, site)
    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr
    assert lines[0] == (f"setup: pip: installing inosync[test] into {tmp_path / 'python'}, for "
                        f"ruff>=0.4 (not installed), mypy>=1.8 (not installed); output in "
                        f"{tmp_path / 'logs' / 'inosync-setup-pip.log'}")
    assert lines[1].startswith("setup: this failed: ") and "-m pip install" in lines[1]
    assert "No module named pip" in done.stderr
    assert "No module named pip" in (tmp_path / "logs" / "inosync-setup-pip.log").read_text()
