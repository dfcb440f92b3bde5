"""Views of the daemon's state, rendered from NodeFacts by pure functions: the STATUS line
systemd shows, the JSON state file `inosync status` reads, and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inosync.report.node_facts import NodeFacts, Verification, severity

STATE_FILE_VERSION = 1
MAX_NODES_IN_STATUS = 3


@dataclass(frozen=True)
class Instance:
    """Facts about the daemon as a whole, beside its nodes."""

    name: str
    config: str
    wpath: str
    pid: int
    started: float
    watches: int = 0
    overflows: int = 0
    paused_reason: str = ""
    notes: tuple[str, ...] = ()  # reload failed, ...
    unwatched: tuple[tuple[str, str], ...] = ()  # (path, why) of the first directories
    unwatched_count: int = 0  # that could not be watched, and how many in all


def describe_unwatched(instance: Instance, shown: int = 3) -> str:
    """The directories whose changes cannot be seen, for STATUS."""
    if not instance.unwatched_count:
        return ""
    names = ", ".join(f"{path or '.'} ({why})" for path, why in instance.unwatched[:shown])
    more = instance.unwatched_count - min(shown, len(instance.unwatched))
    return (f"{instance.unwatched_count} directories not watched, their changes not "
            f"mirrored: {names}" + (f" and {more} more" if more > 0 else ""))


def clock(wall: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall))


def short_error(facts: NodeFacts, limit: int = 70) -> str:
    message = facts.last_error.strip().splitlines()[-1] if facts.last_error.strip() else ""
    if len(message) > limit:
        message = message[:limit - 3] + "..."
    code = f"exit {facts.last_error_code}" if facts.last_error_code is not None else "error"
    return f"{code}: {message}" if message else code


def describe_node(facts: NodeFacts, now: float) -> str:
    """One node's part of STATUS."""
    if facts.state == "failing":
        since = clock(facts.failing_since or now)
        retry = f", retry {clock(facts.next_retry)}" if facts.next_retry else ""
        return f"{facts.name} failing since {since} ({short_error(facts)}){retry}"
    if facts.state == "deletions refused":
        return (f"{facts.name} deletions refused ({facts.would_delete} would go, "
                f"max_delete_share allows {facts.delete_bound})")
    if facts.state == "mount lost":
        return (f"{facts.name} mount lost ({describe_lost(facts.lost_mounts)}: nothing "
                "mounted, kept on the node)")
    if facts.state == "incomplete":
        return f"{facts.name} incomplete (part of the source is not watched)"
    if facts.state in ("behind", "syncing"):
        return (f"{facts.name} {facts.state} {facts.lag(now):.1f} s "
                f"({facts.pending_paths} paths)")
    return f"{facts.name} {facts.state}"


def describe_hooks(nodes: Sequence[NodeFacts], limit: int = 60) -> str:
    """The nodes whose on_sync hook fails (their syncs go on: it is a part of its own)."""
    failing = [n for n in nodes if n.hook_failing_since is not None]
    if not failing:
        return ""
    first, since = failing[0], failing[0].hook_failing_since or 0.0
    error = first.hook_error
    if len(error) > limit:
        error = error[:limit - 3] + "..."
    more = f" and {len(failing) - 1} more" if len(failing) > 1 else ""
    return f"on_sync failing on {first.name}{more} since {clock(since)} ({error})"


def describe_lost(paths: Sequence[str], shown: int = 2) -> str:
    text = ", ".join(paths[:shown])
    return text + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def latest_verification(nodes: Sequence[NodeFacts]) -> tuple[NodeFacts, Verification] | None:
    done = [(n, n.verification) for n in nodes if n.verification is not None]
    if not done:
        return None
    return max(done, key=lambda pair: pair[1].at)


def describe_verification(nodes: Sequence[NodeFacts]) -> str:
    latest = latest_verification(nodes)
    if latest is None:
        return ""
    when = time.strftime("%H:%M", time.localtime(latest[1].at))
    drifted = [n for n in nodes if n.last_drift is not None]
    if not drifted:
        return f"verified {when}, no drift"
    parts = ", ".join(f"{n.last_drift.drift} paths on {n.name} at "
                      f"{time.strftime('%H:%M', time.localtime(n.last_drift.at))}"
                      for n in drifted if n.last_drift is not None)
    return f"verified {when}, drift found: {parts}"


def status_line(instance: Instance, nodes: Sequence[NodeFacts], now: float) -> str:
    """Short, worst node first: what `systemctl status` shows."""
    in_sync = [n for n in nodes if n.state == "in sync"]
    if instance.paused_reason:
        head = f"paused: source looks wrong ({instance.paused_reason})"
    elif len(in_sync) == len(nodes):
        head = "in sync" + (f" | {len(nodes)} nodes" if len(nodes) > 1 else f" | {nodes[0].name}"
                            if nodes else "")
    else:
        head = f"{len(in_sync)}/{len(nodes)} nodes in sync"
    parts = [head]
    if not instance.paused_reason:
        worst = sorted((n for n in nodes if n.state != "in sync"),
                       key=lambda n: severity(n.state))
        parts += [describe_node(n, now) for n in worst[:MAX_NODES_IN_STATUS]]
        if len(worst) > MAX_NODES_IN_STATUS:
            parts.append(f"{len(worst) - MAX_NODES_IN_STATUS} more not in sync")
    parts.append(f"{instance.watches} watches")
    last = max((n.last_success for n in nodes if n.last_success), default=None)
    if last:
        parts.append("last sync " + clock(last))
    if verified := describe_verification(nodes):
        parts.append(verified)
    if unwatched := describe_unwatched(instance):
        parts.append(unwatched)
    if hooks := describe_hooks(nodes):
        parts.append(hooks)
    parts += list(instance.notes)
    return " | ".join(parts)


# -- the state file ---------------------------------------------------------------------

def _verification_dict(v: Verification | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"at": v.at, "drift": v.drift, "repaired": v.repaired, "paths": list(v.paths),
            "kinds": dict(v.kinds)}


def node_dict(facts: NodeFacts, now: float) -> dict[str, Any]:
    return {
        "name": facts.name, "spec": facts.spec, "kind": facts.kind, "state": facts.state,
        "lag_seconds": round(facts.lag(now), 3), "behind_since": facts.behind_since,
        "pending_paths": facts.pending_paths, "last_success": facts.last_success,
        "last_error": ({"code": facts.last_error_code, "message": facts.last_error,
                        "at": facts.last_error_at} if facts.last_error_at else None),
        "failing_since": facts.failing_since, "next_retry": facts.next_retry,
        "consecutive_failures": facts.consecutive_failures, "syncs": facts.syncs,
        "failures": facts.failures, "bytes_sent": facts.bytes_sent,
        "deletions_refused": ({"would_delete": facts.would_delete,
                               "bound": facts.delete_bound}
                              if facts.state == "deletions refused" else None),
        "lost_mounts": list(facts.lost_mounts),
        "verifying": facts.verifying, "restricted": facts.restricted,
        "last_verification": _verification_dict(facts.verification),
        "last_drift": _verification_dict(facts.last_drift), "drift_total": facts.drift_total,
        "hook": {"runs": facts.hook_runs, "failures": facts.hook_failures,
                 "failing_since": facts.hook_failing_since, "error": facts.hook_error or None},
    }


def state_dict(instance: Instance, nodes: Sequence[NodeFacts], now: float) -> dict[str, Any]:
    """The JSON state file's content (an interface: see inosync(8))."""
    return {
        "version": STATE_FILE_VERSION, "instance": instance.name, "config": instance.config,
        "wpath": instance.wpath, "pid": instance.pid, "started": instance.started,
        "written": now, "watches": instance.watches, "overflows": instance.overflows,
        "paused": bool(instance.paused_reason), "paused_reason": instance.paused_reason,
        "unwatched": {"count": instance.unwatched_count,
                      "paths": [{"path": path, "reason": why}
                                for path, why in instance.unwatched]},
        "status": status_line(instance, nodes, now),
        "nodes": [node_dict(n, now) for n in nodes],
    }


# -- Prometheus ---------------------------------------------------------------------------

# Not "instance": Prometheus gives every scraped series the target's own instance label, and
# a scrape renames a clashing label from the file to exported_instance.
INSTANCE_LABEL = "inosync_instance"

NODE_METRICS: tuple[tuple[str, str, str], ...] = (
    ("inosync_node_lag_seconds", "gauge", "Age of the oldest change not yet on the node"),
    ("inosync_node_pending_paths", "gauge", "Paths waiting to be sent to the node"),
    ("inosync_node_up", "gauge", "1 unless the node's last attempt failed"),
    ("inosync_node_in_sync", "gauge", "1 when the node has every change"),
    ("inosync_node_deletions_refused", "gauge", "1 while full-sync deletions are refused"),
    ("inosync_node_last_success_timestamp_seconds", "gauge", "When the last sync succeeded"),
    ("inosync_node_syncs_total", "counter", "Successful syncs since start"),
    ("inosync_node_sync_failures_total", "counter", "Failed syncs since start"),
    ("inosync_node_bytes_sent_total", "counter", "Bytes rsync sent to the node since start"),
    ("inosync_node_drift_paths", "gauge", "Paths found different by the last verification"),
    ("inosync_node_drift_paths_total", "counter", "Drifted paths found since start"),
    ("inosync_node_last_verify_timestamp_seconds", "gauge", "When the last verification ended"),
    ("inosync_node_lost_mounts", "gauge",
     "Mount points below wpath with nothing mounted, left as they are on the node"),
    ("inosync_node_hook_runs_total", "counter", "on_sync runs that ended since start"),
    ("inosync_node_hook_failures_total", "counter", "on_sync runs that failed since start"),
    ("inosync_node_hook_failing", "gauge", "1 while the node's on_sync hook keeps failing"),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _node_values(facts: NodeFacts, now: float) -> list[float]:
    v = facts.verification
    return [facts.lag(now), facts.pending_paths, int(facts.up), int(facts.state == "in sync"),
            int(facts.state == "deletions refused"), facts.last_success or 0, facts.syncs,
            facts.failures, facts.bytes_sent, v.drift if v else 0, facts.drift_total,
            v.at if v else 0, len(facts.lost_mounts), facts.hook_runs, facts.hook_failures,
            int(facts.hook_failing_since is not None)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def metrics_text(instance: Instance, nodes: Sequence[NodeFacts], now: float) -> str:
    """node_exporter's textfile format: HELP and TYPE once per metric, no timestamps."""
    lines = []
    rows = [(n, _node_values(n, now)) for n in nodes]
    for index, (name, kind, help_text) in enumerate(NODE_METRICS):
        lines += [f"# HELP {name} {help_text}.", f"# TYPE {name} {kind}"]
        for facts, values in rows:
            labels = f'{INSTANCE_LABEL}="{_label(instance.name)}",node="{_label(facts.name)}"'
            lines.append(f"{name}{{{labels}}} {_number(values[index])}")
    instance_label = f'{{{INSTANCE_LABEL}="{_label(instance.name)}"}}'
    for name, kind, help_text, value in (
            ("inosync_watches", "gauge",
             "Directories watched (inotify watches, or below fanotify marks)", instance.watches),
            ("inosync_overflows_total", "counter", "Event queue overflows since start",
             instance.overflows),
            ("inosync_source_paused", "gauge", "1 while the source looks wrong and nothing "
             "is synced", int(bool(instance.paused_reason))),
            ("inosync_unwatched_directories", "gauge", "Directories that could not be "
             "watched: changes below them are not mirrored", instance.unwatched_count),
            ("inosync_metrics_written_timestamp_seconds", "gauge", "When the daemon last "
             "wrote this file: at least once a minute while it runs", _number(now))):
        lines += [f"# HELP {name} {help_text}.", f"# TYPE {name} {kind}",
                  f"{name}{instance_label} {value}"]
    return "\n".join(lines) + "\n"
