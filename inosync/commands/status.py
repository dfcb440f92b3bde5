"""`inosync status`: each instance's nodes from its state file, as a monitoring plugin.

The output follows the monitoring-plugins guidelines, so it works as a Nagios/Icinga check
as it is: a first line `INOSYNC CRITICAL - 1/3 nodes in sync, deploy@web3 failing 12m`,
performance data after a `|` (per node: its lag, with --warn and --crit, and its pending
paths), then the table of nodes; no `|` anywhere else. Exit 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (see `exitcodes`). Without names it looks at every instance configured, enabled
or running, and one that should run but does not is CRITICAL; an instance named that is not
running is UNKNOWN.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inosync import exitcodes
from inosync.exitcodes import CRITICAL, OK, STATE_NAMES, UNKNOWN, WARNING
from inosync.report.instances import (
    Found,
    add_config_dir_option,
    discover,
    runtime_bases,
    unit_dir,
)
from inosync.report.state_files import instance_name

SHOWN_PROBLEMS = 3


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


def duration(seconds: float) -> str:
    """45s, 12m, 2h5m, 3d4h: short enough for a pager's line."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes}m"
    if seconds < 86400:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"


def judge_node(node: dict[str, Any], limits: Limits, now: float) -> tuple[int, str]:
    """The node's level and, when it is not OK, what is wrong, naming the node."""
    name, state = node.get("name", "?"), node.get("state", "")
    if state == "deletions refused":
        return CRITICAL, f"{name} deletions refused"
    if state == "paused":
        return CRITICAL, f"{name} paused (source looks wrong)"
    if state == "mount lost":
        lost = ", ".join(node.get("lost_mounts") or ["?"])
        return CRITICAL, f"{name} mount lost (nothing mounted on {lost})"
    if state == "incomplete":
        return CRITICAL, f"{name} incomplete (part of the source is not watched)"
    if state == "failing":
        failing_for = now - (node.get("failing_since") or now)
        return (CRITICAL if failing_for > limits.crit else WARNING,
                f"{name} failing {duration(failing_for)}")
    lag = float(node.get("lag_seconds") or 0)
    if lag > limits.crit:
        return CRITICAL, f"{name} behind {duration(lag)}"
    if lag > limits.warn:
        return WARNING, f"{name} behind {duration(lag)}"
    hook = node.get("hook") or {}
    if hook.get("failing_since"):  # the node has every change; what runs after it fails
        return WARNING, f"{name} on_sync failing {duration(now - hook['failing_since'])}"
    return OK, ""


def judge(state: dict[str, Any], limits: Limits, now: float) -> int:
    if state.get("paused"):
        return CRITICAL
    return max((judge_node(n, limits, now)[0] for n in state.get("nodes", [])), default=OK)


@dataclass(frozen=True)
class Verdict:
    """One instance's level and its words for the first line."""

    name: str
    level: int
    summary: str


def judge_found(found: Found, limits: Limits, now: float) -> Verdict:
    if found.state is None:
        # Named: the caller asked about one that may be stopped on purpose (UNKNOWN, as
        # before). Configured or enabled but not running: it should be there (CRITICAL).
        return Verdict(found.name, UNKNOWN if found.named or not found.expected else CRITICAL,
                       f"{found.name} {found.why}")
    state = found.state
    nodes = state.get("nodes", [])
    if state.get("paused"):
        return Verdict(found.name, CRITICAL,
                       f"source paused ({state.get('paused_reason') or 'looks wrong'})")
    judged = sorted((judge_node(n, limits, now) for n in nodes), key=lambda j: -j[0])
    problems = [text for level, text in judged if level > OK]
    in_sync = sum(1 for n in nodes if n.get("state") == "in sync")
    words = [f"{in_sync}/{len(nodes)} nodes in sync"] + problems[:SHOWN_PROBLEMS]
    if len(problems) > SHOWN_PROBLEMS:
        words.append(f"{len(problems) - SHOWN_PROBLEMS} more")
    return Verdict(found.name, judge(state, limits, now), ", ".join(words))


def overall(verdicts: Sequence[Verdict]) -> int:
    levels = {v.level for v in verdicts}
    return next((level for level in (CRITICAL, WARNING, UNKNOWN) if level in levels), OK)


def no_pipe(text: str) -> str:
    """Plugin text may not hold '|': it starts the performance data."""
    return text.replace(" | ", "; ").replace("|", "/")


def first_line(verdicts: Sequence[Verdict]) -> str:
    level = overall(verdicts)
    if len(verdicts) == 1:
        text = verdicts[0].summary
    else:
        bad = sorted((v for v in verdicts if v.level != OK),
                     key=lambda v: (-(v.level % UNKNOWN), v.name))  # CRITICAL first
        good = len(verdicts) - len(bad)
        text = "; ".join(v.summary if v.summary.startswith(v.name) else
                         f"{v.name} {v.summary}" for v in bad)
        if good:
            text += ("; " if text else "") + f"{good} instance{'s' * (good != 1)} OK"
    return f"INOSYNC {STATE_NAMES[level]} - {no_pipe(text)}"


def _label(text: str) -> str:
    return text.replace("'", "_").replace("=", "_")


def _number(value: float) -> str:
    return f"{value:g}"


def perfdata(states: Sequence[dict[str, Any]], limits: Limits) -> str:
    """'label'=value[UOM];warn;crit;min;max per node: its lag and its pending paths."""
    items = []
    for state in states:
        for node in state.get("nodes", []):
            label = _label(f"{state.get('instance')} {node.get('name')}")
            items.append(f"'{label} lag'={float(node.get('lag_seconds') or 0):.1f}s;"
                         f"{_number(limits.warn)};{_number(limits.crit)};0")
            items.append(f"'{label} pending'={int(node.get('pending_paths') or 0)};;;0")
    return " ".join(items)


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
        hook_error = (node.get("hook") or {}).get("error")
        rows.append((
            node["name"], node["state"], f"{node.get('lag_seconds', 0):.1f}s",
            str(node.get("pending_paths", 0)), _when(node.get("last_success"), now),
            _when(verification.get("at"), now),
            str(verification["drift"]) if verification else "-",
            f"exit {error.get('code')}: {message[-1][:60] if message else ''}"
            if error and node["state"] == "failing" else
            f"on_sync {hook_error[:60]}" if hook_error else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"{state.get('instance')} ({state.get('config')}, pid {state.get('pid')}): "
             f"{state.get('status', '')}"]
    lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
              for row in rows]
    return no_pipe("\n".join(lines))


def report(found: Sequence[Found], limits: Limits, now: float,
           problems: Sequence[str] = ()) -> tuple[int, str]:
    """The plugin's exit status and its whole output."""
    verdicts = [judge_found(item, limits, now) for item in found]
    verdicts += [Verdict("", UNKNOWN, problem) for problem in problems]
    states = [item.state for item in found if item.state is not None]
    head = first_line(verdicts)
    if data := perfdata(states, limits):
        head += " | " + data
    body = [table(item.state, now) if item.state is not None else
            no_pipe(f"{item.name}: {item.why}"
                    + (" - it should run: configured or enabled" if item.expected
                       and not item.named else ""))
            for item in found]
    return overall(verdicts), "\n".join([head, *body])


def as_json(found: Sequence[Found], limits: Limits, now: float) -> str:
    out = []
    for item in found:
        verdict = judge_found(item, limits, now)
        entry = dict(item.state) if item.state is not None else {
            "instance": item.name, "config": item.config or None, "nodes": [],
            "why": item.why}
        entry.update(running=item.state is not None, enabled=item.enabled,
                     check=STATE_NAMES[verdict.level])
        out.append(entry)
    return json.dumps(out, indent=1)


def status_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="inosync status", epilog=exitcodes.epilog("status"),
        description="Show each node of every instance (configured, enabled or running) as "
        "a monitoring plugin: a first line for the pager, performance data, then a table.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="instance names (www for /etc/inosync/www.toml); all if none")
    parser.add_argument("-c", "--config", metavar="FILE", help="the instance of this config")
    parser.add_argument("--json", action="store_true", help="print the state as JSON")
    parser.add_argument("--warn", type=float, default=60.0, metavar="SECONDS",
                        help="a node behind more than this is a warning (default 60)")
    parser.add_argument("--crit", type=float, default=300.0, metavar="SECONDS",
                        help="a node behind or failing for more than this is critical "
                        "(default 300)")
    add_config_dir_option(parser)
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and UNKNOWN  # the plugin convention for bad arguments
    names = list(options.names) + ([instance_name(options.config)] if options.config else [])
    found, problems = discover(names, options.config_dir, unit_dir(), runtime_bases())
    now, limits = time.time(), Limits(options.warn, options.crit)
    for item in found:
        if item.state is not None:
            with_current_lag(item.state, now)
    if options.json:
        print(as_json(found, limits, now))
        for problem in problems:
            print(f"inosync status: {problem}", file=sys.stderr)
        verdicts = [judge_found(item, limits, now) for item in found]
        return overall(verdicts + [Verdict("", UNKNOWN, p) for p in problems]) \
            if verdicts or problems else UNKNOWN
    if not found and not problems:
        print(f"INOSYNC UNKNOWN - no instance is configured in {options.config_dir}, "
              "enabled or running")
        return UNKNOWN
    level, text = report(found, limits, now, problems)
    print(text)
    return level
