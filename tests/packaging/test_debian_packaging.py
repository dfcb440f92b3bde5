"""packaging/debian as Debian's conventions want it, checked without building anything.

The build itself (dpkg-buildpackage, lintian --pedantic) and the installed package are
tested under a real systemd in tests/system/test_service.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
DEBIAN = REPO / "packaging" / "debian"


def _stanzas(path: Path) -> list[dict[str, str]]:
    """A deb822 file as stanzas of fields; continuation lines start with a space."""
    stanzas = []
    for block in re.split(r"\n\s*\n", path.read_text().strip()):
        fields: dict[str, str] = {}
        last = ""
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            if line[:1].isspace():
                fields[last] += "\n" + line.strip()
            else:
                last, sep, value = line.partition(":")
                assert sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", last), \
                    f"{path}: not a field: {line!r}"
                fields[last] = value.strip()
        stanzas.append(fields)
    return stanzas


def _package_names(relation: str) -> list[str]:
    """The package names of a relation field: versions, profiles and alternatives dropped."""
    names = []
    for item in relation.replace("\n", " ").split(","):
        for alternative in item.split("|"):
            name = re.sub(r"[\s(<\[].*", "", alternative.strip())
            if name:
                names.append(name)
    return names


def test_setup_packaging_installs_every_build_dependency() -> None:
    source = _stanzas(DEBIAN / "control")[0]
    wanted = {n for n in _package_names(source["Build-Depends"])
              if not n.startswith(("debhelper-compat", "dh-sequence-"))} | {"debhelper",
                                                                              "dh-python"}
    script = (REPO / "scripts" / "setup-packaging").read_text()
    listed = set(re.search(r"^packages=\((.*?)^\)", script, re.S | re.M)
                 .group(1).split())  # type: ignore[union-attr]
    assert wanted <= listed, f"scripts/setup-packaging lacks {sorted(wanted - listed)}"


@pytest.mark.parametrize("script", ["postinst", "prerm", "postrm"])
def test_maintainer_scripts_run_their_own_steps_after_debhelpers(script: str) -> None:
    text = (DEBIAN / f"inosync.{script}").read_text()
    before, marker, _ = text.partition("#DEBHELPER#")
    assert marker, f"inosync.{script} has no #DEBHELPER#"
    steps = [line for line in before.splitlines()
             if line.strip() and not line.startswith("#") and line.strip() != "set -e"]
    assert steps == [], f"inosync.{script}: steps before #DEBHELPER#: {steps}"


def test_autopkgtest_control_names_an_executable_test_and_its_dependencies() -> None:
    (stanza,) = _stanzas(DEBIAN / "tests" / "control")
    assert set(stanza) <= {"Tests", "Test-Command", "Depends", "Restrictions", "Features",
                           "Classes", "Architecture", "Tests-Directory"}
    command = DEBIAN / "tests" / stanza["Test-Command"].removeprefix("debian/tests/")
    assert os.access(command, os.X_OK), f"{command} is not executable"
    depends = _package_names(stanza["Depends"])
    assert depends[0] == "@" and "python3-pytest" in depends


def test_debian_copyright_carries_licence_word_for_word() -> None:
    copyright_text = (DEBIAN / "copyright").read_text()
    assert copyright_text.startswith(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
    paragraphs = {p["License"].split("\n", 1)[0]: p for p in _stanzas(DEBIAN / "copyright")
                  if "License" in p and "Files" not in p}
    body = paragraphs["BSD-3-Clause"]["License"].split("\n", 1)[1].replace("\n.\n", "\n")
    licence = (REPO / "LICENSE").read_text().split("All rights reserved.")[1]
    assert body.split() == licence.split()
    files = {p["Files"]: p for p in _stanzas(DEBIAN / "copyright") if "Files" in p}
    assert files["*"]["License"] == "BSD-3-Clause"
    assert "the inosync developers" in files["*"]["Copyright"]
    assert "Copyright (c) 2026, the inosync developers" in (REPO / "LICENSE").read_text()
    assert files["inotify-simple/*"]["License"] == "BSD-2-Clause"
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["license"] == {"text": "BSD-3-Clause"}


def test_the_python_package_is_found_with_its_subpackages() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert not isinstance(setuptools["packages"], list), "a fixed list ships no subpackage"
    assert setuptools["packages"]["find"]["include"] == ["inosync*"]
