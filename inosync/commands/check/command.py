"""`inosync check`: validate a config and try each node with the daemon's own commands.

A probe of its own would pass configs the daemon then fails on (an `extra` rsync refuses,
an rpath that is a file). So check runs what the daemon runs: the full sync's rsync argv
(options, excludes, `extra`, `rsh`, bandwidth) as a dry run, and the rename path where the
node has one, and reports each failure with the key to fix and rsync's whole message.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shlex
import sys
import time

from inosync import exitcodes
from inosync.commands.check import host_keys, sandbox
from inosync.config.load import Config, ConfigError, Node, load
from inosync.daemon.start import local_rsync_problem, rsync_version_problem
from inosync.node import restricted
from inosync.node.hook import hook_problems
from inosync.process import run
from inosync.report.state_files import instance_name
from inosync.rsync import argv as rsync
from inosync.rsync.excludes import ExcludeMatcher
from inosync.rsync.outcomes import Outcome, classify_exit
from inosync.source.backend_check import watcher_warning

RRSYNC_BUSY = "Another instance of rrsync is already accessing this directory"
BUSY_RETRIES = 10  # rrsync's lock: the daemon's own rsyncs to the node are short
UNIT_CONFIG_DIR = "/etc/inosync"  # inosync@NAME.service runs /etc/inosync/NAME.toml


def writable_script(rpath: str, rsync_binary: str = "rsync") -> bytes:
    """sh that says whether rsync could create or write rpath, then prints rsync's version."""
    parent = os.path.dirname(rpath.rstrip("/")) or "/"
    path, up, binary = shlex.quote(rpath), shlex.quote(parent), shlex.quote(rsync_binary)
    return (f"command -v {binary} >/dev/null || {{ echo 'rsync is not installed'; exit 3; }}\n"
            f"if [ -e {path} ] && [ ! -d {path} ]; then echo 'rpath is not a directory'; "
            f"exit 4; fi\n"
            f"if [ -d {path} ]; then [ -w {path} ] || {{ echo 'rpath is not writable'; exit 4; }}\n"
            f"else [ -d {up} ] && [ -w {up} ] || {{ echo 'rpath is missing and its parent "
            f"is not a writable directory'; exit 4; }}; fi\n"
            f"{binary} --version | head -n 1\n").encode()


def key_to_fix(cfg: Config, code: int, message: str) -> str:
    """Which config key most likely fixes a failed dry run, from rsync's exit and words."""
    text = message.lower()
    if "rrsync" in text and "disabled on this server" in text:
        return ("extra, or the rrsync options in the node's authorized_keys (a mirror needs "
                "deletions: no -no-del, no -ro)")
    if "unknown option" in text or "syntax or usage" in text or code == 1:
        return "extra" if cfg.extra else "rsync"
    if code == 255 or "ssh:" in text or "permission denied (publickey" in text:
        return "rsh (and the node's host and keys in rnodes)"
    if "unknown module" in text or "@error" in text:
        return "rnodes (the module name) or the rsync daemon's configuration"
    if "not a directory" in text or "mkdir" in text or "change_dir" in text \
            or "cannot stat destination" in text:
        return "rpath"
    if "command not found" in text or code == 127:
        return "rsync (install rsync on the node)"
    return "rnodes, rpath or extra, from rsync's message"


def dry_run_problem(cfg: Config, node: Node) -> str:
    """The daemon's full sync as a dry run against the node; a problem line or ""."""
    for _ in range(BUSY_RETRIES):
        ran = run(rsync.whole_tree_dry_run(cfg, node, None).argv)
        if RRSYNC_BUSY not in ran.stderr:
            break
        time.sleep(0.5)  # a running daemon's rsync holds rrsync's lock for a moment
    else:
        return (f"node {node.name!r}: rrsync on the node stayed busy with another rsync (the "
                "daemon's?) - run check again")
    if classify_exit(ran.code)[0] is Outcome.OK:
        return ""
    return (f"node {node.name!r}: the daemon's rsync fails with exit {ran.code} "
            f"({classify_exit(ran.code)[1]}) - fix {key_to_fix(cfg, ran.code, ran.stderr)}"
            f"; rsync said:\n    {ran.message()}")


def rename_path_problem(cfg: Config, node: Node) -> tuple[str, bool]:
    """Renames are replayed with a shell on ssh nodes and rename(2) locally: try it.

    Also says whether rrsync refused the shell: such a node renames through rsync alone,
    addressed relative to rrsync's directory, as the daemon does once it has asked.
    """
    if node.kind == "local":
        ran = run(["sh", "-s"], writable_script(cfg.rpath, cfg.rsync))
    elif node.kind == "ssh":
        ran = run(list(rsync.ssh_argv(cfg, None)) + [node.host, "sh -s"],
                  writable_script(cfg.rpath))
        if restricted.refused_by_rrsync(ran.stderr.encode()):
            return "", True
        if ran.code == 255 and (kind := host_keys.host_key_failure(ran.stderr)):
            return f"{host_key_problem(cfg, node, kind)}; ssh said:\n    {ran.message()}", False
        if ran.code == 255:
            return (f"node {node.name!r}: ssh failed - check rsh, the host and keys in "
                    f"rnodes, and that the host is up; ssh said:\n    {ran.message()}"), False
    else:
        return "", False  # an rsync daemon renames through rsync alone: the dry run covers it
    if ran.code != 0:
        return (f"node {node.name!r}: {ran.message()} - fix rpath or its permissions on the "
                "node"), False
    problem = rsync_version_problem(ran.stdout)
    return (f"node {node.name!r}: {problem}" if problem else ""), False


def host_key_problem(cfg: Config, node: Node, kind: str) -> str:
    """The host key line for `node`, with the known_hosts file ssh itself reports."""
    settings = host_keys.ssh_settings(
        run([*rsync.ssh_argv(cfg, None), "-G", node.host]).stdout)
    user = pwd.getpwuid(os.geteuid())
    known_hosts = host_keys.known_hosts_file(settings, user.pw_dir)
    return host_keys.host_key_advice(node.name, kind, settings, known_hosts, user.pw_name)


def unit_sandbox(instance: str) -> sandbox.Sandbox:
    """The sandbox inosync@INSTANCE runs in, drop-ins included, as systemd reports it;
    the shipped unit's when systemd does not know the unit (or is not running)."""
    ran = run(["systemctl", "show", "--property=LoadState,PrivateTmp,ProtectSystem,"
               "ReadWritePaths", f"inosync@{instance}.service"], timeout=10)
    return (sandbox.parse_show(ran.stdout) if ran.code == 0 else None) or sandbox.SHIPPED


def sandbox_problems(cfg: Config) -> list[str]:
    """Paths the service's sandbox hides or makes read-only, each as written and resolved.

    Only for a config the unit runs (/etc/inosync/NAME.toml): a file elsewhere is run by
    hand, outside the sandbox.
    """
    if os.path.dirname(os.path.realpath(cfg.path)) != UNIT_CONFIG_DIR:
        return []
    local = [path for node in cfg.nodes if node.kind == "local"
             for path in (cfg.rpath, os.path.realpath(cfg.rpath))]
    instance = instance_name(cfg.path)
    return sandbox.sandbox_warnings(instance, [cfg.wpath, os.path.realpath(cfg.wpath)],
                                    local, unit_sandbox(instance))


def node_problems(cfg: Config, node: Node, notes: list[str] | None = None) -> list[str]:
    """What stops the daemon on this node; `notes` gets what is worth saying when fine."""
    cfg = cfg.for_node(node)
    first, confined = rename_path_problem(cfg, node)
    if first and ("ssh failed" in first or "host key" in first):
        return [first]  # the dry run would only say the same again
    if confined:
        node = restricted.rooted(node)
        if notes is not None:
            notes.append(f"node {node.name!r}: restricted by rrsync: paths are relative to "
                         "its directory (make it rpath), renames go through rsync alone")
    return [p for p in (first, dry_run_problem(cfg, node)) if p]


def check_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="inosync check", epilog=exitcodes.epilog("check"),
        description="Validate a config and try each node with the "
        "daemon's own rsync command as a dry run (nothing is changed).")
    parser.add_argument("-c", "--config", required=True, metavar="FILE")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and exitcodes.USAGE
    try:
        cfg = load(options.config)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return exitcodes.CONFIG
    if shortage := watcher_warning(cfg.wpath, ExcludeMatcher(cfg.rexcludes), cfg.watcher):
        print(f"{cfg.path}: warning: {shortage}", file=sys.stderr, flush=True)
    for warning in sandbox_problems(cfg):
        print(f"{cfg.path}: warning: {warning}", file=sys.stderr, flush=True)
    local = local_rsync_problem(cfg)
    notes: list[str] = []
    problems = hook_problems(cfg) + ([local] if local else [
        p for node in cfg.nodes for p in node_problems(cfg, node, notes)])
    for note in notes:
        print(f"{cfg.path}: {note}", flush=True)
    for problem in problems:
        print(f"{cfg.path}: {problem}", file=sys.stderr)
    if problems:
        return exitcodes.FAILURE
    print(f"{cfg.path}: ok - {len(cfg.nodes)} node(s) reachable and writable; the daemon's "
          "rsync runs against each", flush=True)
    return exitcodes.OK
