"""The state file and the metrics file: written atomically, not too often, removed at exit.

Readers (`inosync status`, node_exporter's textfile collector) must never see half a file,
so each is written to a temporary name beside it and renamed over it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

from inosync.report.node_facts import NodeFacts
from inosync.report.views import Instance, metrics_text, state_dict

log = logging.getLogger("inosync")
STATE_FILE_NAME = "status.json"
STATE_MIN_INTERVAL = 1.0  # at most once a second, unless a node's state changes
METRICS_MIN_INTERVAL = 5.0
# Rewritten at least this often even when nothing changed, so the file's age (and
# inosync_metrics_written_timestamp_seconds) tells a live daemon from one that died without
# removing it (SIGKILL, the watchdog's abort).
METRICS_MAX_INTERVAL = 60.0


def instance_name(config_path: str) -> str:
    """The instance's name: its config file's name without .toml (www for www.toml)."""
    name = os.path.basename(config_path)
    return name[:-5] if name.endswith(".toml") else name


def write_atomic(path: str, text: str) -> None:
    temporary = f"{os.path.dirname(path) or '.'}/.{os.path.basename(path)}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


class StatePublisher:
    """Writes status.json (and the metrics file, if configured) when there is news."""

    def __init__(self, runtime_dir: str, metrics_file: str = "") -> None:
        self.state_path = os.path.join(runtime_dir, STATE_FILE_NAME) if runtime_dir else ""
        self.metrics_file = metrics_file
        self._states: tuple[object, ...] = ()
        self._signature: tuple[object, ...] = ()
        self._state_at = -STATE_MIN_INTERVAL
        self._metrics_at = -METRICS_MIN_INTERVAL
        self._metrics_signature: tuple[object, ...] = ()
        self._failed: set[str] = set()

    def publish(self, instance: Instance, nodes: Sequence[NodeFacts], now: float,
                wall: float) -> None:
        states = tuple((n.state, n.hook_failing_since) for n in nodes) + (
            instance.paused_reason,)
        signature = states + tuple(
            (n.pending_paths, n.syncs, n.failures, n.verifying, n.behind_since,
             n.verification.at if n.verification else None, n.lost_mounts, n.hook_runs)
            for n in nodes) + (
            instance.watches, instance.overflows, instance.notes)
        due = now - self._state_at >= STATE_MIN_INTERVAL and signature != self._signature
        if self.state_path and (states != self._states or due):
            self._states, self._signature, self._state_at = states, signature, now
            self._write(self.state_path, json.dumps(state_dict(instance, nodes, wall),
                                                    indent=1) + "\n")
        moving = any(n.behind_since is not None for n in nodes)  # lag grows by itself
        since = now - self._metrics_at
        if self.metrics_file and since >= METRICS_MIN_INTERVAL and (
                signature != self._metrics_signature or moving
                or since >= METRICS_MAX_INTERVAL):
            self._metrics_signature, self._metrics_at = signature, now
            self._write(self.metrics_file, metrics_text(instance, nodes, wall))

    def _write(self, path: str, text: str) -> None:
        try:
            write_atomic(path, text)
        except OSError as error:
            if path not in self._failed:  # say it once, not every second
                self._failed.add(path)
                log.error("cannot write %s (%s) - check that its directory exists and is "
                          "writable%s", path, error.strerror,
                          " (the metrics_file key)" if path == self.metrics_file else "")
            return
        self._failed.discard(path)

    def remove(self) -> None:
        """At exit: a file left behind would tell of a daemon that is no longer there."""
        for path in (self.state_path, self.metrics_file):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
