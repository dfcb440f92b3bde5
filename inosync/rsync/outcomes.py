"""rsync's exit codes, sorted into what the node does next (pure)."""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    OK = "ok"                # done (24: files vanished meanwhile; their events follow)
    PARTIAL = "partial"      # 23: some paths failed, retry the batch
    TRANSIENT = "transient"  # network, ssh, timeouts: retry with backoff
    GUARD = "guard"          # 25: --max-delete stopped a mass delete; do not retry
    ERROR = "error"          # anything else: log loudly with stderr, retry with backoff


RSYNC_EXIT_STATUSES: dict[int, tuple[Outcome, str]] = {
    0: (Outcome.OK, "success"),
    1: (Outcome.ERROR, "syntax or usage error"),
    2: (Outcome.ERROR, "protocol incompatibility"),
    3: (Outcome.ERROR, "errors selecting input/output files or dirs"),
    4: (Outcome.ERROR, "requested action not supported"),
    5: (Outcome.TRANSIENT, "error starting client-server protocol"),
    6: (Outcome.ERROR, "daemon unable to append to log file"),
    10: (Outcome.TRANSIENT, "error in socket I/O"),
    11: (Outcome.TRANSIENT, "error in file I/O"),
    12: (Outcome.TRANSIENT, "error in rsync protocol data stream"),
    13: (Outcome.ERROR, "errors with program diagnostics"),
    14: (Outcome.TRANSIENT, "error in IPC code"),
    20: (Outcome.TRANSIENT, "received SIGUSR1 or SIGINT"),
    21: (Outcome.TRANSIENT, "some error returned by waitpid()"),
    22: (Outcome.TRANSIENT, "error allocating core memory buffers"),
    23: (Outcome.PARTIAL, "partial transfer due to error"),
    24: (Outcome.OK, "some source files vanished"),
    25: (Outcome.GUARD, "--max-delete limit stopped deletions"),
    30: (Outcome.TRANSIENT, "timeout in data send/receive"),
    35: (Outcome.TRANSIENT, "timeout waiting for daemon connection"),
    255: (Outcome.TRANSIENT, "ssh connection failed"),
}


def classify_exit(code: int) -> tuple[Outcome, str]:
    """Sort an rsync exit status; unknown codes are errors, never fatal to the daemon."""
    if code < 0:
        return Outcome.TRANSIENT, f"killed by signal {-code}"
    return RSYNC_EXIT_STATUSES.get(code, (Outcome.ERROR, f"unknown exit code {code}"))
