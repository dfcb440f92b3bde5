"""`inosync restore`: bring a path back from what a node kept of it (`keep_deleted`).

The copy comes back into the source (or, with --to, anywhere else), so the daemon sends it
to every node again; a path that exists there already is never overwritten. With --list,
the kept copies of the path are shown and nothing is changed.
"""

from __future__ import annotations

import argparse
import os
import sys

from inosync import exitcodes
from inosync.config.load import Config, ConfigError, Node, load
from inosync.node import restricted
from inosync.process import run
from inosync.rsync import kept
from inosync.rsync.outcomes import Outcome, classify_exit


def relative(path: str, wpath: str) -> str | None:
    """PATH as given (relative to wpath, or absolute inside it) -> relative; None: outside."""
    if os.path.isabs(path):
        full = os.path.normpath(path)
        if full == wpath or not full.startswith(wpath.rstrip("/") + "/"):
            return None
        return full[len(wpath.rstrip("/")) + 1:]
    rel = os.path.normpath(path)
    return None if rel in (".", "") or rel.startswith("..") else rel


def pick_node(cfg: Config, wanted: str | None) -> Node | None:
    if wanted is None:
        return cfg.nodes[0]
    return next((n for n in cfg.nodes if wanted in (n.name, n.spec)), None)


def restore_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="inosync restore", epilog=exitcodes.epilog("restore"),
        description="Bring a deleted or overwritten path back from a node's kept copies "
        "(keep_deleted) into the source, which the daemon then sends to every node.")
    parser.add_argument("-c", "--config", required=True, metavar="FILE")
    parser.add_argument("--node", metavar="NODE",
                        help="the node to take it from (default: the first in rnodes)")
    parser.add_argument("--at", metavar="STAMP",
                        help="the kept copy of this sync (see --list; default: the newest)")
    parser.add_argument("--to", metavar="DIR",
                        help="restore below DIR instead of wpath (the source is untouched)")
    parser.add_argument("--list", action="store_true",
                        help="list the kept copies of PATH and change nothing")
    parser.add_argument("path", metavar="PATH",
                        help="relative to wpath, or an absolute path inside it")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and exitcodes.USAGE
    try:
        cfg = load(options.config)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return exitcodes.CONFIG
    if not cfg.keep_deleted:
        print(f"{cfg.path}: keep_deleted is off, so the nodes keep nothing to restore - set "
              'e.g. keep_deleted = "7d" for what is deleted from now on', file=sys.stderr)
        return exitcodes.FAILURE
    rel = relative(options.path, cfg.wpath)
    if rel is None:
        print(f"{options.path}: not a path inside wpath {cfg.wpath} - give it relative to "
              "wpath or as an absolute path below it", file=sys.stderr)
        return exitcodes.USAGE
    node = pick_node(cfg, options.node)
    if node is None:
        print(f"{cfg.path}: no node is named {options.node} - known: "
              f"{', '.join(n.name for n in cfg.nodes)}", file=sys.stderr)
        return exitcodes.USAGE
    own = cfg.for_node(node)
    node = restricted.resolve(own, node)
    listed = run(kept.list_copies(own, node, rel).argv, timeout=3600)
    if classify_exit(listed.code)[0] is not Outcome.OK and "No such file" not in listed.stderr:
        print(f"{node.name}: cannot list its kept copies: rsync exit {listed.code}: "
              f"{listed.message()}", file=sys.stderr)
        return exitcodes.FAILURE
    stamps = kept.copies_in(listed.raw_stdout, rel)
    if options.list:
        for name in stamps:
            print(f"{name}  {rel}")
        if not stamps:
            print(f"{node.name}: keeps no copy of {rel}", file=sys.stderr)
        return exitcodes.OK if stamps else exitcodes.FAILURE
    if options.at is not None and options.at not in stamps:
        print(f"{node.name}: keeps no copy of {rel} at {options.at} - see inosync restore "
              f"--list", file=sys.stderr)
        return exitcodes.FAILURE
    if not stamps:
        print(f"{node.name}: keeps no copy of {rel} (deleted longer than keep_deleted ago, "
              "or never deleted or overwritten there)", file=sys.stderr)
        return exitcodes.FAILURE
    chosen = options.at or stamps[-1]
    target, parent = kept.restore_targets(cfg.wpath, rel, options.to)
    if os.path.lexists(target):
        print(f"{target}: exists - move it away first, or restore elsewhere with --to DIR",
              file=sys.stderr)
        return exitcodes.FAILURE
    fetched = run(kept.fetch_copy(own, node, chosen, rel, parent).argv, timeout=24 * 3600)
    if classify_exit(fetched.code)[0] is not Outcome.OK:
        print(f"{node.name}: restoring {rel} failed: rsync exit {fetched.code}: "
              f"{fetched.message()}", file=sys.stderr)
        return exitcodes.FAILURE
    print(f"restored {target} from {node.name}'s copy kept at {chosen}"
          + ("; the daemon sends it to every node" if options.to is None else ""))
    return exitcodes.OK
