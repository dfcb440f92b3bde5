"""Command line: run the daemon, check a config, or run the embedded demo."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace

from inosync import __version__, rsync
from inosync.config import Config, ConfigError, Node, load, validate
from inosync.daemon import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, Daemon
from inosync.service import setup_logging

EXIT_USAGE = 2
PROBE_TIMEOUT_SECONDS = 30
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
    if args and args[0] == "check":
        return check_command(args[1:])
    if args and args[0] == "demo":
        return demo_command(args[1:])
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
    code, version = _run([cfg.rsync, "--version"], first_line=True)
    if code != 0:
        log.error("%s: rsync: %r does not run (%s) - fix the rsync key", cfg.path, cfg.rsync,
                  version)
    elif problem := rsync_version_problem(version):
        log.error("this machine's %s", problem)
    try:
        return Daemon(cfg).run()
    except KeyboardInterrupt:
        return EXIT_OK


# -- check ----------------------------------------------------------------------------

def check_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="inosync check",
                                     description="Validate a config and probe each node.")
    parser.add_argument("-c", "--config", required=True, metavar="FILE")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and EXIT_USAGE
    try:
        cfg = load(options.config)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return EXIT_CONFIG
    problems = [p for node in cfg.nodes if (p := probe_node(cfg, node))]
    for problem in problems:
        print(f"{cfg.path}: {problem}", file=sys.stderr)
    if problems:
        return EXIT_FAILURE
    print(f"{cfg.path}: ok - {len(cfg.nodes)} node(s) reachable and writable")
    return EXIT_OK


def _run(argv: Sequence[str], stdin: bytes = b"", first_line: bool = False) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True,
                              timeout=PROBE_TIMEOUT_SECONDS)
    except FileNotFoundError:
        return 127, f"{argv[0]} not found"
    except subprocess.TimeoutExpired:
        return 124, f"no answer within {PROBE_TIMEOUT_SECONDS}s"
    text = (done.stderr or done.stdout).decode("utf-8", "backslashreplace").strip()
    if not text:
        return done.returncode, ""
    return done.returncode, text.splitlines()[0 if first_line else -1]


def writable_script(rpath: str, rsync_binary: str = "rsync") -> bytes:
    """sh that says whether rsync could create or write rpath, then prints rsync's version."""
    parent = os.path.dirname(rpath.rstrip("/")) or "/"
    path, up, binary = shlex.quote(rpath), shlex.quote(parent), shlex.quote(rsync_binary)
    return (f"command -v {binary} >/dev/null || {{ echo 'rsync is not installed'; exit 3; }}\n"
            f"if [ -d {path} ]; then [ -w {path} ] || {{ echo 'rpath is not writable'; exit 4; }}\n"
            f"else [ -d {up} ] && [ -w {up} ] || {{ echo 'rpath is missing and its parent "
            f"is not a writable directory'; exit 4; }}; fi\n"
            f"{binary} --version | head -n 1\n").encode()


def rsync_version_problem(version_line: str) -> str:
    """Versions whose --delete-missing-args loses deletions: before 3.2.3, and 3.4.3."""
    match = re.search(r"version (\d+)\.(\d+)\.(\d+)", version_line)
    if not match:
        return ""
    version = tuple(int(part) for part in match.groups())
    if version < (3, 2, 3) or version == (3, 4, 3):
        return (f"rsync {'.'.join(map(str, version))} mishandles --delete-missing-args, so "
                "deletions would not reach the node - install rsync 3.2.3 or later (not 3.4.3)")
    return ""


def probe_node(cfg: Config, node: Node) -> str:
    """One line describing what is wrong with a node, or "" when it is usable."""
    if node.kind == "local":
        code, text = _run(["sh", "-s"], writable_script(cfg.rpath, cfg.rsync))
    elif node.kind == "ssh":
        code, text = _run(list(rsync.ssh_argv(cfg, None)) + [node.host, "sh -s"],
                          writable_script(cfg.rpath))
        if code == 255:
            return (f"node {node.name!r}: ssh failed ({text}) - check rsh, keys and that "
                    "the host is up")
    else:
        code, text = _run(rsync.probe(cfg, node, None).argv)
        return "" if code == 0 else f"node {node.spec!r}: rsync exit {code}: {text}"
    if code != 0:
        return f"node {node.name!r}: {text or 'rsync does not run'}"
    problem = rsync_version_problem(text)
    return f"node {node.name!r}: {problem}" if problem else ""


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
    options = parser.parse_args(argv)
    base = os.path.abspath(options.dir)
    src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
    for relpath, text in DEMO_FILES.items():
        path = os.path.join(src, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            with open(path, "w") as handle:
                handle.write(text)
    cfg = validate({"wpath": src, "rpath": dst, "rnodes": [""]}, "<demo>")
    print(f"inosync demo: mirroring {src} -> {dst}\n"
          f"Edit {os.path.join(src, 'hello.txt')} (or add files under {src}) and watch "
          f"{dst} follow. Ctrl-C stops.", flush=True)
    return run_daemon(cfg, "info")


if __name__ == "__main__":
    sys.exit(main())
