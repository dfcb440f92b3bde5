"""Every exit status of every inosync command, in one table.

The commands return these names; their --help ends with their own lines of the table, and
inosync(8), EXIT STATUS, prints the same table (a test keeps the three in step). 78 is
EX_CONFIG from sysexits.h: the unit's RestartPreventExitStatus=78 stops systemd from
restarting a daemon whose config is wrong. `inosync status` follows the monitoring-plugins
convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), usage errors included, which are
UNKNOWN there.
"""

from __future__ import annotations

OK = 0
FAILURE = 1  # the command could not do its work (daemon: systemd restarts it)
DRIFT = 1  # verify: a node differed from the source
REFUSED = 1  # migrate: something was refused or not written
USAGE = 2  # a bad command line
ERROR = 2  # verify: a node could not be compared or repaired
CONFIG = 78  # EX_CONFIG: a config file is missing, unreadable or invalid
INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C
BROKEN_PIPE = 141  # 128 + SIGPIPE: whoever read the output went away (`| head`)

# monitoring-plugins states, for `inosync status`
WARNING, CRITICAL, UNKNOWN = 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}

ANY_COMMAND = ((INTERRUPTED, "interrupted (Ctrl-C)"),
               (BROKEN_PIPE, "its output was closed early, e.g. by | head"))

TABLE: dict[str, tuple[tuple[int, str], ...]] = {
    "inosync -c FILE": (
        (OK, "stopped by SIGTERM or SIGINT"),
        (FAILURE, "cannot run now (wpath missing, out of inotify watches): systemd "
         "restarts it"),
        (USAGE, "bad command line"),
        (CONFIG, "the config is invalid: systemd does not restart it"),
    ),
    "check": (
        (OK, "the config is valid and every node passed"),
        (FAILURE, "a node, or the local rsync, failed its probe"),
        (USAGE, "bad command line"),
        (CONFIG, "the config is missing, unreadable or invalid"),
    ),
    "status": (
        (OK, "OK: every node in sync or behind less than --warn"),
        (WARNING, "WARNING: a node behind more than --warn, failing for less than --crit, or "
         "its on_sync hook failing"),
        (CRITICAL, "CRITICAL: a node behind or failing for more than --crit, deletions "
         "refused, part of the source not watched, the source paused, or a configured or "
         "enabled instance not running"),
        (UNKNOWN, "UNKNOWN: an instance named is not running, no instance at all, or a bad "
         "command line"),
    ),
    "list": (
        (OK, "listed"),
        (USAGE, "bad command line"),
    ),
    "verify": (
        (OK, "every node matches the source"),
        (DRIFT, "a node differed (repaired or not)"),
        (ERROR, "a node could not be compared or repaired, or a bad command line"),
        (CONFIG, "the config is missing, unreadable or invalid"),
    ),
    "restore": (
        (OK, "the path was restored, or its kept copies listed"),
        (FAILURE, "no kept copy, the path exists where it would go, or the node failed"),
        (USAGE, "bad command line, a path outside wpath or an unknown node"),
        (CONFIG, "the config is missing, unreadable or invalid"),
    ),
    "keygen": (
        (OK, "the key was made"),
        (FAILURE, "the key exists already or cannot be made"),
        (USAGE, "bad command line or instance name"),
        (CONFIG, "the config is missing, unreadable or invalid"),
    ),
    "migrate": (
        (OK, "every block was written"),
        (REFUSED, "something was refused or nothing written"),
        (USAGE, "bad command line"),
        (CONFIG, "OLD cannot be read or parsed"),
    ),
    "demo": (
        (OK, "stopped by Ctrl-C or SIGTERM"),
        (FAILURE, "cannot run"),
        (USAGE, "bad command line, or DIR cannot hold the demo"),
    ),
}


def epilog(command: str) -> str:
    """The end of a command's --help: its exit statuses, and where all of them are."""
    codes = "; ".join(f"{code} {meaning}" for code, meaning in TABLE[command])
    return f"Exit status: {codes}. All commands: see EXIT STATUS in inosync(8)."
