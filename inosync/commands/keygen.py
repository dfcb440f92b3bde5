"""`inosync keygen NAME`: a key for one instance, and the line that confines it on each node.

The key only the daemon uses (`/etc/inosync/NAME.key`, mode 0600) goes into each node's
authorized_keys forced into rrsync (`command="rrsync RPATH",restrict`): whoever holds it
can run nothing but rsync, inside rpath. The lines printed here are exact, built from
NAME.toml, so nothing has to be typed by hand.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Sequence

from inosync import exitcodes
from inosync.config.load import Config, ConfigError, Node, load

CONFIG_DIR = "/etc/inosync"


def forced_command(rpath: str) -> str:
    """The authorized_keys options for the instance's key: rrsync confined to rpath."""
    command = f"rrsync {shlex.quote(rpath)}"
    return 'command="' + command.replace("\\", "\\\\").replace('"', '\\"') + '",restrict'


def authorized_line(rpath: str, public_key: str, source: str = "") -> str:
    """One authorized_keys line; `source` (a host, an address or a pattern list) adds
    from=, so the key is refused from anywhere else."""
    options = forced_command(rpath)
    if source:
        options += f',from="{source}"'
    return f"{options} {public_key.strip()}"


def rsh_with_key(rsh: Sequence[str], key: str) -> str:
    """The rsh value that uses `key`: the config's own rsh, its -i (if any) replaced."""
    words: list[str] = []
    skip = False
    for word in rsh:
        if skip:
            skip = False
        elif word == "-i":
            skip = True
        elif not (word.startswith("-i") and len(word) > 2):
            words.append(word)
    return shlex.join([*words, "-i", key])


def node_lines(cfg: Config, public_key: str, key: str, source: str = "") -> list[str]:
    """What to put where: one authorized_keys line per ssh node, then the rsh line."""
    lines: list[str] = []
    for node in cfg.nodes:
        if node.kind != "ssh":
            lines.append(f"# {node.name}: {_no_key(node)}")
            continue
        user, _, host = node.host.rpartition("@")
        where = f"~{user}/.ssh/authorized_keys" if user else \
            "the authorized_keys of the user inosync logs in as"
        lines += [f"# {node.name}: append to {where} on {host} ({cfg.rpath} must exist there, "
                  "owned by that user):", authorized_line(cfg.rpath, public_key, source)]
    if any(node.kind == "ssh" for node in cfg.nodes):
        lines += [f"# then set in {cfg.path} (inosync check -c {cfg.path} tries it):",
                  f"rsh = {_toml_string(rsh_with_key(cfg.rsh, key))}"]
    return lines


def _no_key(node: Node) -> str:
    if node.kind == "daemon":
        return "an rsync daemon: no ssh key (restrict it in rsyncd.conf)"
    return "a local mirror: no ssh key"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_key(path: str, name: str) -> str:
    """Create an ed25519 key without passphrase at `path` (0600); return its public line."""
    comment = f"inosync-{name}@{socket.gethostname()}"
    old = os.umask(0o077)
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                        "-f", path], check=True, capture_output=True, stdin=subprocess.DEVNULL)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    os.chmod(path + ".pub", 0o644)
    with open(path + ".pub", encoding="utf-8") as handle:
        return handle.read().strip()


def keygen_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="inosync keygen", epilog=exitcodes.epilog("keygen"),
        description="Make DIR/NAME.key for the instance NAME and print "
        "the authorized_keys line (rrsync confined to rpath) for each of its nodes.")
    parser.add_argument("name", metavar="NAME", help="the instance: DIR/NAME.toml")
    parser.add_argument("--dir", default=CONFIG_DIR, help=f"where NAME.toml is and NAME.key "
                        f"goes (default {CONFIG_DIR})")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="the instance's config, if not DIR/NAME.toml")
    parser.add_argument("--from", dest="source", default="", metavar="PATTERNS",
                        help="add from=\"PATTERNS\": the key works only from these addresses "
                        "(this host as the nodes see it, e.g. 192.0.2.10)")
    try:
        options = parser.parse_args(argv)
    except SystemExit as error:
        return int(error.code or 0) and exitcodes.USAGE
    name = options.name
    if not name or "/" in name or name.startswith("."):
        print(f"inosync keygen: {name!r} is not an instance name - use the config's name "
              "without .toml, e.g. www", file=sys.stderr)
        return exitcodes.USAGE
    if '"' in options.source or any(c.isspace() for c in options.source):
        print(f'inosync keygen: --from {options.source!r}: write patterns separated by "," '
              "without spaces or quotes, e.g. 192.0.2.10,2001:db8::10", file=sys.stderr)
        return exitcodes.USAGE
    config_path = options.config or os.path.join(options.dir, f"{name}.toml")
    try:
        cfg = load(config_path, exists=lambda path: True)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return exitcodes.CONFIG
    key = os.path.join(options.dir, f"{name}.key")
    for path in (key, key + ".pub"):
        if os.path.lexists(path):
            print(f"inosync keygen: {path} exists - keygen never overwrites a key; remove it "
                  "first, or keep it and add its .pub line to the nodes yourself",
                  file=sys.stderr)
            return exitcodes.FAILURE
    try:
        public_key = make_key(key, name)
    except (OSError, subprocess.CalledProcessError) as error:
        said = getattr(error, "stderr", b"") or b""
        why = said.decode("utf-8", "replace").strip() or str(error)
        print(f"inosync keygen: cannot make {key} ({why}) - is {options.dir} a writable "
              "directory and ssh-keygen installed?", file=sys.stderr)
        return exitcodes.FAILURE
    print(f"# made {key} (ed25519, mode 0600) and {key}.pub")
    print("\n".join(node_lines(cfg, public_key, key, options.source)), flush=True)
    return exitcodes.OK
