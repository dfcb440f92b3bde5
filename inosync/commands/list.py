"""`inosync list`: every instance configured, enabled and running, side by side."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from inosync import exitcodes
from inosync.report.instances import Found, add_config_dir_option, discover, runtime_bases, unit_dir


def list_rows(found: Sequence[Found]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("NAME", "CONFIG", "ENABLED", "RUNNING", "STATUS")]
    for item in found:
        state = item.state or {}
        rows.append((item.name, item.config or state.get("config") or "-",
                     "yes" if item.enabled else "no",
                     f"pid {state.get('pid')}" if item.state else "no",
                     str(state.get("status", "")).split(" | ")[0] if item.state else
                     item.why))
    return rows


def columns(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)


def list_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="inosync list", epilog=exitcodes.epilog("list"),
        description="Show every instance: configured (DIR/NAME.toml), enabled "
        "(systemctl enable inosync@NAME) and running, side by side.")
    add_config_dir_option(parser)
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and exitcodes.USAGE
    found, problems = discover([], options.config_dir, unit_dir(), runtime_bases())
    for problem in problems:
        print(f"inosync list: {problem}", file=sys.stderr)
    if not found:
        print(f"no instance: none configured in {options.config_dir}, enabled or running")
        return exitcodes.OK
    print(columns(list_rows(found)))
    return exitcodes.OK
