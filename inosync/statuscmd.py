"""`inosync status`: each running instance's nodes from its state file, as a table or JSON,
with the monitoring-plugin exit convention so it works as a Nagios/Icinga check as it is.

0 every node in sync or behind less than --warn seconds; 1 a node behind more than that
(or failing for less than --crit); 2 a node failing for more than --crit seconds, deletions
refused, a mount point below wpath that lost its filesystem, part of the source not watched
(incomplete), or the source paused; 3 not running or no state.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inosync.statefiles import STATE_FILE_NAME, instance_name

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
EXIT_USAGE = 2


def runtime_bases() -> list[str]:
    """Where instances keep their state: /run/inosync, and $XDG_RUNTIME_DIR/inosync."""
    bases = ["/run/inosync"]
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        bases.append(os.path.join(xdg, "inosync"))
    return bases


def state_paths(names: Sequence[str]) -> dict[str, list[str]]:
    """Candidate state files per instance name; every instance found when none is named."""
    if names:
        return {name: [os.path.join(base, name, STATE_FILE_NAME) for base in runtime_bases()]
                for name in names}
    found: dict[str, list[str]] = {}
    for base in runtime_bases():
        for path in sorted(glob.glob(os.path.join(glob.escape(base), "*", STATE_FILE_NAME))):
            found.setdefault(os.path.basename(os.path.dirname(path)), []).append(path)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(paths: Sequence[str]) -> tuple[dict[str, Any] | None, str]:
    """The state of a running instance, or None and why not."""
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            return None, f"cannot read {path} ({error})"
        if not isinstance(state, dict) or not _alive(int(state.get("pid", 0))):
            return None, f"not running (stale {path})"
        return state, ""
    return None, f"not running (no {' or '.join(paths)})"


@dataclass(frozen=True)
class Limits:
    warn: float
    crit: float


def with_current_lag(state: dict[str, Any], now: float) -> dict[str, Any]:
    """Lag grows while the file sits there: recompute it from behind_since."""
    for node in state.get("nodes", []):
        since = node.get("behind_since")
        node["lag_seconds"] = round(max(0.0, now - since), 3) if since else 0.0
    return state


def judge_node(node: dict[str, Any], limits: Limits, now: float) -> tuple[int, str]:
    state = node.get("state", "")
    if state == "deletions refused":
        return CRITICAL, "deletions refused"
    if state == "paused":
        return CRITICAL, "source paused"
    if state == "mount lost":
        return CRITICAL, "nothing mounted on " + ", ".join(node.get("lost_mounts") or ["?"])
    if state == "incomplete":
        return CRITICAL, "part of the source is not watched"
    if state == "failing":
        failing_for = now - (node.get("failing_since") or now)
        level = CRITICAL if failing_for > limits.crit else WARNING
        return level, f"failing for {failing_for:.0f} s"
    lag = float(node.get("lag_seconds") or 0)
    if lag > limits.warn:
        return WARNING, f"behind {lag:.1f} s"
    return OK, state


def judge(state: dict[str, Any], limits: Limits, now: float) -> int:
    if state.get("paused"):
        return CRITICAL
    return max((judge_node(n, limits, now)[0] for n in state.get("nodes", [])), default=OK)


def _when(wall: float | None, now: float) -> str:
    if not wall:
        return "-"
    text = time.strftime("%H:%M:%S", time.localtime(wall))
    return text if now - wall < 86400 else time.strftime("%Y-%m-%d", time.localtime(wall))


def table(state: dict[str, Any], now: float) -> str:
    header = ("NODE", "STATE", "LAG", "PENDING", "LAST SYNC", "VERIFIED", "DRIFT", "LAST ERROR")
    rows = [header]
    for node in state.get("nodes", []):
        verification = node.get("last_verification") or {}
        error = node.get("last_error") or {}
        message = (error.get("message") or "").strip().splitlines()
        rows.append((
            node["name"], node["state"], f"{node.get('lag_seconds', 0):.1f}s",
            str(node.get("pending_paths", 0)), _when(node.get("last_success"), now),
            _when(verification.get("at"), now),
            str(verification["drift"]) if verification else "-",
            f"exit {error.get('code')}: {message[-1][:60] if message else ''}"
            if error and node["state"] == "failing" else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"{state.get('instance')} ({state.get('config')}, pid {state.get('pid')}): "
             f"{state.get('status', '')}"]
    lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
              for row in rows]
    return "\n".join(lines)


def status_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="inosync status", description="Show each node of running instances; exit "
        "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugin convention).")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="instance names (www for /etc/inosync/www.toml); all if none")
    parser.add_argument("-c", "--config", metavar="FILE", help="the instance of this config")
    parser.add_argument("--json", action="store_true", help="print the state as JSON")
    parser.add_argument("--warn", type=float, default=60.0, metavar="SECONDS",
                        help="a node behind more than this is a warning (default 60)")
    parser.add_argument("--crit", type=float, default=300.0, metavar="SECONDS",
                        help="a node failing for more than this is critical (default 300)")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and EXIT_USAGE
    names = list(options.names) + ([instance_name(options.config)] if options.config else [])
    candidates = state_paths(names)
    if not candidates:
        print("inosync status: no instance is running (no state under "
              f"{' or '.join(runtime_bases())})", file=sys.stderr)
        return UNKNOWN
    now, limits = time.time(), Limits(options.warn, options.crit)
    verdicts, states = [], []
    for name, paths in candidates.items():
        state, why = read_state(paths)
        if state is None:
            verdicts.append(UNKNOWN)
            if not options.json:
                print(f"{name}: {why}")
            continue
        state = with_current_lag(state, now)
        verdict = judge(state, limits, now)
        verdicts.append(verdict)
        state["check"] = {0: "OK", 1: "WARNING", 2: "CRITICAL"}[verdict]
        states.append(state)
        if not options.json:
            print(table(state, now))
    if options.json:
        print(json.dumps(states, indent=1))
    for level in (CRITICAL, WARNING, UNKNOWN):
        if level in verdicts:
            return level
    return OK
