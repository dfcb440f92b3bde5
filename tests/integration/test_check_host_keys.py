"""`inosync check` names a node's host key as the cause when ssh refuses it, and its fix works."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from helpers import Sshd, run_inosync, write_config


def keyscan(server: Sshd) -> bytes:
    return subprocess.run(["ssh-keyscan", "-p", str(server.port), "127.0.0.1"],
                          capture_output=True, check=True, timeout=30).stdout


def test_a_changed_host_key_is_named_and_the_printed_commands_replace_it(
        tmp_path: Path, sshd_factory) -> None:
    node, impostor = sshd_factory(), sshd_factory()
    known_hosts = tmp_path / "known_hosts"
    # What a reinstalled node looks like: the recorded key for its address is another one.
    known_hosts.write_bytes(keyscan(impostor).replace(
        f"[127.0.0.1]:{impostor.port}".encode(), f"[127.0.0.1]:{node.port}".encode()))
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    rsh = shlex.join(["ssh", "-p", str(node.port), "-i", str(node.client_key),
                      "-o", f"UserKnownHostsFile={known_hosts}",
                      "-o", "GlobalKnownHostsFile=/dev/null"])
    config = write_config(tmp_path / "www.toml", wpath=str(src), rpath=str(dst),
                          rnodes=[node.rnode], rsh=rsh)
    res = run_inosync("check", "-c", str(config))
    said = res.stdout + res.stderr
    assert res.returncode == 1, said
    assert (f"node 'root@127.0.0.1': the host key of [127.0.0.1]:{node.port} is not the one "
            f"in {known_hosts} - if the node was reinstalled, and only then") in said, said
    (fix,) = re.findall(r"replace it: (ssh-keygen .*? >> \S+);", said)
    remove, record = fix.split(" && ")
    subprocess.run(shlex.split(remove), capture_output=True, check=True, timeout=30)
    scan, target = record.split(" >> ")
    assert Path(target) == known_hosts
    with open(target, "ab") as handle:
        handle.write(subprocess.run(shlex.split(scan), capture_output=True, check=True,
                                    timeout=30).stdout)
    res = run_inosync("check", "-c", str(config))
    assert res.returncode == 0, res.stdout + res.stderr
