"""Command line: run the daemon (`inosync -c FILE`) or dispatch to a command."""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import replace

from inosync import __version__, exitcodes
from inosync.commands.check.command import check_command
from inosync.config.load import Config, ConfigError, load, validate
from inosync.daemon.service import setup_logging
from inosync.daemon.start import local_rsync_problem
from inosync.node.hook import hook_problems

log = logging.getLogger("inosync")

# Every command, with its line in `inosync --help`.
COMMANDS = {
    "check": "validate a config and try each node (changes nothing)",
    "status": "each instance's nodes, as a monitoring plugin (Nagios, Icinga)",
    "list": "configured, enabled and running instances side by side",
    "verify": "compare each node with the source now (--repair: fix it)",
    "restore": "bring a deleted or overwritten path back from a node's kept copies",
    "keygen": "make an instance's ssh key and each node's authorized_keys line",
    "migrate": "write configs from an older inosync (.py) or lsyncd (.lua) config",
    "demo": "mirror a demo tree to a local directory, to watch inosync work",
}


def _command(name: str) -> Callable[[list[str]], int]:
    """The command's entry point, imported only when it runs."""
    if name == "check":
        return check_command
    if name == "status":
        from inosync.commands.status import status_command
        return status_command
    if name == "list":
        from inosync.commands.list import list_command
        return list_command
    if name == "restore":
        from inosync.commands.restore import restore_command
        return restore_command
    if name == "verify":
        from inosync.commands.verify import verify_command
        return verify_command
    if name == "keygen":
        from inosync.commands.keygen import keygen_command
        return keygen_command
    if name == "migrate":
        from inosync.commands.migrate.command import migrate_command
        return migrate_command
    return demo_command


def _parser() -> argparse.ArgumentParser:
    width = max(len(name) for name in COMMANDS)
    commands = "\n".join(f"  {name.ljust(width)}  {line}" for name, line in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="inosync", formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="inosync -c FILE [-v] [--dry-run]\n       inosync COMMAND [ARGS...]",
        description="Mirror a directory tree to nodes in near real time (inotify + rsync).\n"
        "With -c FILE it runs the daemon for that config (systemd runs it as inosync@NAME).",
        epilog=f"commands:\n{commands}\n\n'inosync COMMAND --help' shows a command's "
        "options.\n\n" + textwrap.fill(exitcodes.epilog("inosync -c FILE"), 78))
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="the instance's TOML config, e.g. /etc/inosync/www.toml")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    parser.add_argument("--dry-run", action="store_true",
                        help="log every rsync and remote command instead of running it")
    parser.add_argument("--version", action="version", version=f"inosync {__version__}")
    return parser


def unknown_command(word: str) -> str:
    close = difflib.get_close_matches(word, list(COMMANDS), n=1)
    return (f"inosync: {word!r} is not a command" + (f" - did you mean {close[0]!r}?" if close
                                                     else "")
            + f" Commands: {', '.join(COMMANDS)}; 'inosync -c FILE' runs the daemon.")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # here, so a reader gone away is caught below, not at exit
        return code
    except KeyboardInterrupt:  # Ctrl-C in a one-shot command: no traceback
        return exitcodes.INTERRUPTED
    except BrokenPipeError:  # `inosync status | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's last flush is quiet
        return exitcodes.BROKEN_PIPE


def _dispatch(args: list[str]) -> int:
    if args and args[0] in COMMANDS:
        return _command(args[0])(args[1:])
    if args and not args[0].startswith("-"):
        print(unknown_command(args[0]), file=sys.stderr)
        return exitcodes.USAGE
    from inosync.daemon.signals import install_signal_flags  # inotify: not for the other commands
    install_signal_flags()  # from here on a signal is a flag the daemon's loop acts on
    parser = _parser()
    try:
        options = parser.parse_args(args)
        if not options.config:
            parser.error("name a command, or -c FILE to run the daemon (see inosync --help)")
    except SystemExit as error:
        return int(error.code or 0) and exitcodes.USAGE
    try:
        # A missing wpath is not a config error here: it may be a mount that comes later,
        # so the daemon exits 1 and systemd retries, instead of 78 (do not restart).
        cfg = load(options.config, exists=lambda path: True)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return exitcodes.CONFIG
    cfg = replace(cfg, dry_run=options.dry_run)
    return run_daemon(cfg, "debug" if options.verbose else cfg.log_level)


def run_daemon(cfg: Config, level: str) -> int:
    from inosync.daemon.loop import Daemon
    setup_logging(level)
    log.info("inosync %s starting: %s -> %s", __version__, cfg.wpath,
             ", ".join(node.dest for node in cfg.nodes))
    if problem := local_rsync_problem(cfg):
        log.error("%s: %s", cfg.path, problem)
    for problem in hook_problems(cfg):  # syncing goes on: the hook is not the mirror
        log.error("%s: %s", cfg.path, problem)
    try:
        return Daemon(cfg).run()
    except KeyboardInterrupt:
        return exitcodes.OK


# -- demo -----------------------------------------------------------------------------

DEMO_FILES = {
    "hello.txt": "Hello from inosync. Edit me and watch the copy change.\n",
    "docs/readme.md": "# Demo\nEvery change under src/ appears under dst/.\n",
    "web/index.html": "<h1>inosync demo</h1>\n",
}


def demo_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="inosync demo", epilog=exitcodes.epilog("demo"),
                                     description="Mirror a demo tree to a local target.")
    parser.add_argument("dir", nargs="?", default="/tmp/inosync-demo")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and exitcodes.USAGE
    from inosync.daemon.signals import install_signal_flags
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
        return exitcodes.USAGE
    cfg = validate({"wpath": src, "rpath": dst, "rnodes": [""]}, "<demo>")
    print(f"inosync demo: mirroring {src} -> {dst}\n"
          f"Edit {os.path.join(src, 'hello.txt')} (or add files under {src}) and watch "
          f"{dst} follow. Ctrl-C stops.", flush=True)
    return run_daemon(cfg, "info")


if __name__ == "__main__":
    sys.exit(main())
