"""Print what this interpreter lacks of pyproject.toml's requirements, one per line.

    python3 scripts/missing_requirements.py [--project DIR] [EXTRA ...]

Checks [project].dependencies, the named [project.optional-dependencies] and the project
itself (installed in editable mode from DIR, so `python -m inosync` runs this checkout from
anywhere). Prints nothing when all is there, so scripts/setup runs pip only when it has
something to do; pip resolving an already satisfied editable install takes seconds.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

_REQUIREMENT = re.compile(  # name, [extras], specifier; marker
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;(.*))?$")
_CLAUSE = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*([^\s,]+)\s*$")
_MARKER = re.compile(r"""^\s*(\w+)\s*(==|!=|<=|>=|<|>)\s*["']([^"']*)["']\s*$""")


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version ("6.155.2" -> (6, 155, 2)); suffixes are ignored."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _compare(have: tuple[int, ...], op: str, want: tuple[int, ...]) -> bool:
    width = max(len(have), len(want))
    have, want = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
    if op == "~=":
        return have >= want and have[:len(want) - 1] == want[:len(want) - 1]
    return {"==": have == want, "===": have == want, "!=": have != want, "<=": have <= want,
            ">=": have >= want, "<": have < want, ">": have > want}[op]


def satisfies(version: str, specifier: str) -> bool:
    """Does `version` meet a specifier like ">=1.8" or ">=1.8,<3"? Unknown forms pass."""
    for clause in filter(None, (part.strip() for part in specifier.split(","))):
        match = _CLAUSE.match(clause)
        if not match:
            continue
        op, wanted = match.groups()
        if wanted.endswith(".*"):
            prefix = release(wanted[:-2])
            same = release(version)[:len(prefix)] == prefix
            if same != (op == "=="):
                return False
        elif not _compare(release(version), op, release(wanted)):
            return False
    return True


def marker_applies(marker: str) -> bool:
    """Evaluate `python_version < '3.11'` and the like, joined by "and"; others apply."""
    values = {"python_version": "{}.{}".format(*sys.version_info[:2]),
              "python_full_version": platform.python_version(),
              "sys_platform": sys.platform, "os_name": os.name,
              "platform_system": platform.system()}
    for part in marker.split(" and "):
        match = _MARKER.match(part)
        if not match or match.group(1) not in values:
            continue
        name, op, wanted = match.groups()
        have = values[name]
        if name.startswith("python"):
            if not _compare(release(have), op, release(wanted)):
                return False
        elif (have == wanted) != (op == "=="):
            return False
    return True


def unmet(requirement: str) -> str | None:
    """Why this interpreter does not meet a requirement string, or None when it does."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        return None
    name, specifier, marker = match.groups()
    if marker and not marker_applies(marker):
        return None
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        return f"{requirement.strip()} (not installed)"
    if not satisfies(version, specifier):
        return f"{requirement.strip()} ({version} installed)"
    return None


def project_unmet(name: str, project: Path) -> str | None:
    """The project must be installed in editable mode from this very checkout."""
    try:
        found = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return f"{name} (not installed)"
    direct = json.loads(found.read_text("direct_url.json") or "{}")
    source = urlsplit(direct.get("url", ""))
    if not direct.get("dir_info", {}).get("editable") or source.scheme != "file" or \
            unquote(source.path) != str(project.resolve()):
        return f"{name} (not installed in editable mode from {project.resolve()})"
    return None


def requirements(pyproject: dict[str, object], extras: list[str]) -> list[str]:
    """[project].dependencies plus those of each named extra; an unknown extra is an error."""
    project = pyproject.get("project")
    assert isinstance(project, dict), "pyproject.toml has no [project] table"
    wanted = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"pyproject.toml: [project.optional-dependencies] has no "
                             f"{extra!r} - use one of {', '.join(optional) or 'none'}")
        wanted += optional[extra]
    return wanted


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("extras", nargs="*")
    options = parser.parse_args(argv)
    try:
        import tomllib
    except ImportError:  # Python < 3.11: cannot tell, so let pip decide
        print("pyproject.toml (no tomllib to read it)")
        return 0
    with open(options.project / "pyproject.toml", "rb") as handle:
        pyproject = tomllib.load(handle)
    problems = [unmet(item) for item in requirements(pyproject, options.extras)]
    problems.append(project_unmet(pyproject["project"]["name"], options.project))
    for problem in problems:
        if problem:
            print(problem)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
