"""Command line: run the daemon, check a config, or run the embedded demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from inosync import __version__
from inosync.check import check_command, local_rsync_problem
from inosync.config import Config, ConfigError, load, validate
from inosync.daemon import EXIT_CONFIG, EXIT_OK, Daemon, install_signal_flags
from inosync.service import setup_logging
from inosync.statuscmd import status_command
from inosync.verifycmd import verify_command

EXIT_USAGE = 2
log = logging.getLogger("inosync")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inosync", description="Mirror a directory tree to nodes in near real time "
        "(inotify + rsync).", epilog="Commands: 'inosync check -c FILE' validates a config "
        "and probes its nodes; 'inosync demo [DIR]' mirrors a demo tree to a local target.")
    parser.add_argument("-c", "--config", required=True, metavar="FILE",
                        help="the instance's TOML config, e.g. /etc/inosync/www.toml")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    parser.add_argument("--dry-run", action="store_true",
                        help="log every rsync and remote command instead of running it")
    parser.add_argument("--version", action="version", version=f"inosync {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:  # Ctrl-C in a one-shot command: no traceback
        return 130


def _dispatch(args: list[str]) -> int:
    if args and args[0] == "check":
        return check_command(args[1:])
    if args and args[0] == "status":
        return status_command(args[1:])
    if args and args[0] == "verify":
        return verify_command(args[1:])
    if args and args[0] == "demo":
        return demo_command(args[1:])
    if args and args[0] == "keygen":
        from inosync.keygen import keygen_command  # only this command needs it
        return keygen_command(args[1:])
    if args and args[0] == "migrate":
        from inosync.migrate import migrate_command  # only this command needs it
        return migrate_command(args[1:])
    install_signal_flags()  # from here on a signal is a flag the daemon's loop acts on
    try:
        options = _parser().parse_args(args)
    except SystemExit as error:
        return int(error.code or 0) and EXIT_USAGE
    try:
        # A missing wpath is not a config error here: it may be a mount that comes later,
        # so the daemon exits 1 and systemd retries, instead of 78 (do not restart).
        cfg = load(options.config, exists=lambda path: True)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return EXIT_CONFIG
    cfg = replace(cfg, dry_run=options.dry_run)
    return run_daemon(cfg, "debug" if options.verbose else cfg.log_level)


def run_daemon(cfg: Config, level: str) -> int:
    setup_logging(level)
    log.info("inosync %s starting: %s -> %s", __version__, cfg.wpath,
             ", ".join(node.dest for node in cfg.nodes))
    if problem := local_rsync_problem(cfg):
        log.error("%s: %s", cfg.path, problem)
    try:
        return Daemon(cfg).run()
    except KeyboardInterrupt:
        return EXIT_OK


# -- demo -----------------------------------------------------------------------------

DEMO_FILES = {
    "hello.txt": "Hello from inosync. Edit me and watch the copy change.\n",
    "docs/readme.md": "# Demo\nEvery change under src/ appears under dst/.\n",
    "web/index.html": "<h1>inosync demo</h1>\n",
}


def demo_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="inosync demo",
                                     description="Mirror a demo tree to a local target.")
    parser.add_argument("dir", nargs="?", default="/tmp/inosync-demo")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and EXIT_USAGE
    install_signal_flags()
    base = os.path.abspath(options.dir)
    src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
    try:
        for relpath, text in DEMO_FILES.items():
            path = os.path.join(src, relpath)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not os.path.exists(path):
                with open(path, "w") as handle:
                    handle.write(text)
    except OSError as error:
        print(f"inosync demo: {base}: cannot make the demo tree there ({error.strerror}) - "
              "name a directory, or a path that does not exist yet", file=sys.stderr)
        return EXIT_USAGE
    cfg = validate({"wpath": src, "rpath": dst, "rnodes": [""]}, "<demo>")
    print(f"inosync demo: mirroring {src} -> {dst}\n"
          f"Edit {os.path.join(src, 'hello.txt')} (or add files under {src}) and watch "
          f"{dst} follow. Ctrl-C stops.", flush=True)
    return run_daemon(cfg, "info")


if __name__ == "__main__":
    sys.exit(main())
