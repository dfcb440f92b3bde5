"""`inosync verify`: compare each node with the source now, one-shot, from cron or a check.

It runs the daemon's own whole-tree dry run against each node and reports the drift: paths
that differ, by kind, and the first 50. With --repair it sends exactly those paths, with
deletions only within the delete bound. With --checksum files are compared by their data
too: rsync's quick check (size and mtime) cannot see a same-size rewrite that kept the
mtime. Exit 0 when every node matches, 1 when there was drift (repaired or not), 2 when a
node could not be compared or repaired, 78 when the config is wrong (the table is in
`exitcodes`). With the daemon running, a change made while the comparison runs may show up
as drift: the daemon's own periodic verification filters those.
Mount points below wpath that /etc/fstab mounts at boot but have nothing mounted are left
out, as the daemon leaves them out: their copies on the nodes are neither drift nor deleted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from inosync import exitcodes
from inosync.config.load import Config, ConfigError, Node, load
from inosync.node import restricted
from inosync.node.drift import Drift, find_drift, summary
from inosync.process import run
from inosync.rsync import argv as rsync
from inosync.rsync.excludes import ExcludeMatcher
from inosync.rsync.outcomes import Outcome, classify_exit
from inosync.rsync.output import parse_itemized
from inosync.source import mounts
from inosync.source.tree import count_entries, listable

SHOWN_PATHS = 50


def lost_mounts(cfg: Config) -> frozenset[str]:
    """Mount points below wpath that fstab mounts at boot and that have nothing mounted."""
    matcher = ExcludeMatcher(cfg.rexcludes)
    return mounts.observe(cfg.wpath, excluded=lambda path: matcher.excluded(path, True)).lost


def compare(cfg: Config, node: Node, left_out: frozenset[str] = frozenset(),
            checksum: bool = False) -> tuple[list[Drift] | None, str]:
    """The node's drift, or None and rsync's message."""
    ran = run(rsync.whole_tree_dry_run(cfg, node, None, left_out, checksum).argv,
              timeout=24 * 3600)
    if classify_exit(ran.code)[0] is not Outcome.OK:
        return None, f"rsync exit {ran.code} ({classify_exit(ran.code)[1]}): {ran.message()}"
    return find_drift(parse_itemized(ran.raw_stdout)), ""


def repair(cfg: Config, node: Node, drift: Sequence[Drift],
           left_out: frozenset[str] = frozenset(), checksum: bool = False) -> tuple[int, str]:
    """Send exactly the drifted paths; deletions only within the delete bound."""
    bound = rsync.max_delete_for(cfg.max_delete_share, count_entries(cfg.wpath, cfg.rexcludes))
    deletions = sum(d.is_deletion for d in drift)
    refused = 0 <= bound < deletions
    paths = [d.path for d in drift if not (refused and d.is_deletion)]
    note = (f"; {deletions} extraneous paths NOT deleted: max_delete_share allows {bound}"
            if refused else "")
    if not paths:
        return 0, note
    command = rsync.batch_sync(cfg, node, None, listable(cfg.wpath, paths), left_out, checksum)
    ran = run(command.argv, command.stdin, timeout=24 * 3600)
    if classify_exit(ran.code)[0] is not Outcome.OK:
        return ran.code, f"; repair failed with rsync exit {ran.code}: {ran.message()}"
    return 0, f"; repaired {len(paths)} paths" + note


def verify_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="inosync verify", description="Compare each node with the source now.",
        epilog=exitcodes.epilog("verify"))
    parser.add_argument("-c", "--config", required=True, metavar="FILE")
    parser.add_argument("--node", action="append", default=[], metavar="NODE",
                        help="only this node (its name as in the logs, or its rnodes entry)")
    parser.add_argument("--repair", action="store_true",
                        help="send the drifted paths (deletions within max_delete_share)")
    parser.add_argument("--checksum", action="store_true",
                        help="compare every file's data, not only its size and mtime (reads "
                             "every file on the source and on the node)")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and exitcodes.ERROR
    try:
        cfg = load(options.config)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return exitcodes.CONFIG
    nodes = [n for n in cfg.nodes if not options.node or {n.name, n.spec} & set(options.node)]
    if not nodes:
        print(f"{cfg.path}: no node is named {', '.join(options.node)} - known: "
              f"{', '.join(n.name for n in cfg.nodes)}", file=sys.stderr)
        return exitcodes.ERROR
    verdict = exitcodes.OK
    left_out = lost_mounts(cfg)
    for path in sorted(left_out):
        print(f"{os.path.join(cfg.wpath, path)}: nothing is mounted on it (/etc/fstab lists "
              "it): left out of the comparison")
    for node in nodes:
        own = cfg.for_node(node)  # the node's own rsh, rspeed and extra
        node = restricted.resolve(own, node)  # behind rrsync: paths relative to its dir
        drift, problem = compare(own, node, left_out, options.checksum)
        if drift is None:
            print(f"{node.name}: cannot compare: {problem}", file=sys.stderr)
            verdict = exitcodes.ERROR
            continue
        if not drift:
            print(f"{node.name}: in sync")
            continue
        verdict = max(verdict, exitcodes.DRIFT)
        outcome = ""
        if options.repair:
            code, outcome = repair(own, node, drift, left_out, options.checksum)
            if code:
                verdict = exitcodes.ERROR
        print(f"{node.name}: drift: {summary(drift)}{outcome}")
        for item in drift[:SHOWN_PATHS]:
            print(f"  {item.kind:<10} {item.path or '.'}")
        if len(drift) > SHOWN_PATHS:
            print(f"  ... and {len(drift) - SHOWN_PATHS} more")
    return verdict
