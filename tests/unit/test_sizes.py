"""Modules and classes stay small enough to read in one sitting: a module past 400 lines or
a class past 300 has a part that wants a name and a module of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import inosync

PACKAGE = Path(inosync.__file__).parent
MODULE_LINES = 400
CLASS_LINES = 300


def sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules, classes = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = str(path.relative_to(PACKAGE))
        modules[name] = text.count("\n")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                classes[f"{name}:{node.name}"] = node.end_lineno - node.lineno + 1
    return modules, classes


def test_no_module_is_over_the_limit() -> None:
    modules, _ = sizes()
    assert {name: lines for name, lines in modules.items() if lines > MODULE_LINES} == {}


def test_no_class_is_over_the_limit() -> None:
    _, classes = sizes()
    assert {name: lines for name, lines in classes.items() if lines > CLASS_LINES} == {}


def test_the_sizes_are_measured() -> None:
    modules, classes = sizes()
    assert modules["source/watcher.py"] > 100 and classes["source/watcher.py:Watcher"] > 100
