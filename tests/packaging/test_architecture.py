"""ARCHITECTURE.md keeps up with the package: every module has its row in its package's table,
and every row names a module that exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "inosync"
HEADING = re.compile(r"^### `inosync/((?:[a-z_]+/)*)`", re.M)
ROW = re.compile(r"^\| `([a-z_]+\.py)`", re.M)


def documented() -> set[str]:
    """Module paths relative to inosync/, from each package's table."""
    text = (REPO / "ARCHITECTURE.md").read_text()
    found = set()
    headings = list(HEADING.finditer(text))
    for index, heading in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        section = text[heading.end():end].split("\n## ", 1)[0]
        found |= {heading.group(1) + name for name in ROW.findall(section)}
    return found


def modules() -> set[str]:
    return {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
            if path.name != "__init__.py" or path.parent == PACKAGE}


def test_every_module_has_its_row() -> None:
    missing = sorted(modules() - documented())
    assert missing == [], f"ARCHITECTURE.md: add a row to the package's table for {missing}"


def test_every_row_names_a_module() -> None:
    stale = sorted(documented() - modules())
    assert stale == [], f"ARCHITECTURE.md: these modules are gone: {stale}"


def test_the_tables_are_read() -> None:
    """A heading or row format the parser no longer understands would pass the two above."""
    assert {"source/watcher.py", "cli.py", "commands/migrate/lua.py"} <= documented()
