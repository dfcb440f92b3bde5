"""The package's layers: each imports only from the layers below it, and no command imports
another command. A new import that points up (the watcher reaching for the daemon, a node
for a command) fails here, naming the module, the line and the import."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

import inosync

# Lowest first. A module may import from any layer before its own, and within its own unit
# (its subpackage; under commands/, its own command).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("exitcodes", "changes"),
    ("config",),
    ("rsync",),
    ("process",),
    ("source",),
    ("report",),
    ("node",),
    ("daemon",),
    ("commands",),
    ("cli",),
    ("__main__",),
)
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}
PACKAGE = Path(inosync.__file__).parent


def unit_of(module: str) -> str:
    """The unit a module belongs to: `node.runner` -> `node`; under commands/, each command:
    `commands.check.command` -> `commands.check`, `commands.list` -> itself."""
    parts = module.split(".")
    if parts[0] == "commands" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def level_of(module: str) -> int:
    return LEVEL[module.split(".")[0]]


def upward(imports: Mapping[str, Sequence[tuple[int, str]]]) -> list[str]:
    """Every import that breaks the layering, as `module:line imports target`."""
    wrong = []
    for module, targets in sorted(imports.items()):
        for line, target in targets:
            if target == "" or unit_of(target) == unit_of(module):
                continue  # `from inosync import __version__`, or within its own unit
            same = level_of(target) == level_of(module)
            if level_of(target) > level_of(module) or same:
                wrong.append(f"{module}:{line} imports {target}")
    return wrong


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, module: str) -> Iterator[tuple[int, str]]:
    """inosync modules imported anywhere in a module (in functions too), relative to inosync."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{module}:{node.lineno}: use absolute imports (from inosync...)")
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "inosync":
                for alias in node.names:
                    if alias.name in LEVEL or (PACKAGE / alias.name).is_dir():
                        yield node.lineno, alias.name
                    else:
                        yield node.lineno, ""
            elif node.module.startswith("inosync."):
                yield node.lineno, node.module.removeprefix("inosync.")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("inosync."):
                    yield node.lineno, alias.name.removeprefix("inosync.")


def package_imports() -> dict[str, list[tuple[int, str]]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name:
            found[name] = list(imported(ast.parse(path.read_text()), name))
    return found


def test_every_module_belongs_to_a_layer() -> None:
    strays = [name for name in package_imports() if name.split(".")[0] not in LEVEL]
    assert strays == [], f"add these to a layer in LAYERS (and to ARCHITECTURE.md): {strays}"


def test_nothing_imports_upward_and_no_command_imports_another() -> None:
    assert upward(package_imports()) == []


@pytest.mark.parametrize(("module", "target", "wrong"), [
    ("source.watcher", "changes", False),
    ("source.watcher", "source.wdmap", False),
    ("node.runner", "report.node_facts", False),
    ("commands.check.command", "commands.check.host_keys", False),
    ("commands.migrate.lsyncd", "commands.migrate.model", False),
    ("cli", "daemon.loop", False),
    ("cli", "", False),
    ("source.watcher", "daemon.loop", True),   # the core reaching up into the loop
    ("node.runner", "commands.check.command", True),  # the core importing a command
    ("config.load", "rsync.argv", True),
    ("commands.verify", "commands.check.command", True),  # one command using another
    ("commands.status", "commands.list", True),
    ("exitcodes", "changes", True),  # same layer, different units
    ("daemon.loop", "cli", True),
])
def test_upward_imports_are_found(module: str, target: str, wrong: bool) -> None:
    assert bool(upward({module: [(1, target)]})) is wrong
