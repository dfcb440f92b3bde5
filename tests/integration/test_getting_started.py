"""The README's "Getting started", followed step by step against two real sshd nodes.

The steps are read from the README's code blocks, so the test breaks when the README
changes and its steps stop working. Each step runs as written, with what would touch this
machine redirected into the test's directory: /etc/inosync, /root/.ssh/known_hosts, the
node's user (the fixture's sshd logs in as root), the hosts web1 and web2 (two sshds on
127.0.0.1, named in an ssh_config that rsh gets with -F), the source address, and the
instance name (so that /run/inosync/NAME is the test's own). Package installation is left
to the system test; `systemctl enable --now` is the daemon in the foreground.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomllib
from helpers import Daemon, Sshd, run_inosync, wait_converged, wait_until, write, write_config
from helpers.daemon import REPO

from inosync.commands.check.host_keys import known_hosts_file, ssh_settings

README = REPO / "README.md"
SOURCE_ADDRESS = "127.0.0.1"  # the source host as the nodes see it


def getting_started() -> list[tuple[str, str]]:
    """The (language, text) of each code block in the README's Getting started section."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Getting started\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```(\w+)\n(.*?)```", text[start:end], re.S)


@dataclass
class Walk:
    """The state of one walk through the section: what the steps made, and where."""

    top: Path
    daemons: list[Daemon]
    servers: dict[str, Sshd]
    name: str = f"www-{os.getpid()}"
    readme: dict[str, object] = field(default_factory=dict)  # what the README's steps said
    shown_output: list[str] = field(default_factory=list)
    keygen_lines: list[str] = field(default_factory=list)
    config: Path | None = None
    checked_without_host_keys: bool = False

    @property
    def etc(self) -> Path:
        return self.top / "etc"

    @property
    def src(self) -> Path:
        return self.top / "src"

    @property
    def rpath(self) -> Path:
        return self.top / "rpath"  # what ssh sessions see in its place: their node's dir

    @property
    def known_hosts(self) -> Path:
        return self.top / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.top / "ssh_config"

    def here(self, path: str) -> Path:
        """A path of the README on this machine."""
        if path.startswith("/etc/inosync/"):
            return self.etc / os.path.basename(path).replace("www", self.name, 1)
        raise AssertionError(f"the test does not know where {path} goes")

    def instance(self, word: str) -> str:
        assert word == "www", f"the README's instance is {word!r}, the test expects www"
        return self.name


def run_step(walk: Walk, argv: list[str], block: str, following: list[tuple[str, str]]) -> None:
    command = argv[0]
    if command in ("apt-get", "dnf"):
        assert argv[1] == "install", argv  # the system test installs the real package
    elif command == "cp":
        source, target = argv[1:]
        assert os.path.basename(source).startswith("example.toml"), source
        walk.etc.mkdir(exist_ok=True)
        walk.config = walk.here(target)
        shutil.copy(REPO / "etc" / "example.toml", walk.config)
    elif command == "editor":
        edit_config(walk, argv[1], following)
    elif command == "inosync":
        run_inosync_step(walk, argv[1:])
    elif command == "useradd":
        assert argv[-1] == walk.readme["user"], "useradd makes another user than rnodes names"
    elif command == "install":
        install_step(walk, argv)
    elif command == "echo":
        append_authorized_key(walk, argv)
    elif command == "ssh-keyscan":
        record_host_keys(walk, argv)
    elif command == "systemctl":
        assert argv[1:] == ["enable", "--now", "inosync@www"], argv
        assert walk.config is not None
        daemon = Daemon(walk.top, walk.config)
        walk.daemons.append(daemon)
        daemon.start().wait_ready(timeout=60)
    else:
        pytest.fail(f"README, Getting started: {shlex.join(argv)!r} (in the block "
                    f"{block.splitlines()[0]!r}...) is a step this test does not know - "
                    "teach it, so that the section stays tested", pytrace=False)


def edit_config(walk: Walk, path: str, following: list[tuple[str, str]]) -> None:
    """The keys the README says to set, over the example's, redirected to this test."""
    assert walk.config == walk.here(path), "editor opens another file than cp wrote"
    language, text = following[0]
    assert language == "toml", "the block after `editor` should be the keys to set"
    keys = tomllib.loads(walk.config.read_text()) | tomllib.loads(text)
    assert keys["wpath"] == keys["rpath"] == "/srv/www", "the test maps /srv/www"
    users_hosts = [node.rstrip(":").split("@") for node in keys["rnodes"]]
    assert [host for _, host in users_hosts] == sorted(walk.servers), keys["rnodes"]
    (user,) = {user for user, _ in users_hosts}
    walk.readme.update(user=user, rnodes=keys["rnodes"], rsh=keys["rsh"])
    rsh = shlex.split(keys["rsh"])
    assert rsh[0] == "ssh"
    key = rsh[rsh.index("-i") + 1]
    walk.ssh_config.write_text("".join(
        f"Host {host}\n    HostName 127.0.0.1\n    Port {server.port}\n"
        for host, server in walk.servers.items())
        + f"Host *\n    UserKnownHostsFile {walk.known_hosts}\n"
        "    GlobalKnownHostsFile /dev/null\n")
    keys.update(wpath=str(walk.src), rpath=str(walk.rpath),
                rnodes=[f"root@{host}:" for _, host in users_hosts],
                rsh=shlex.join(["ssh", "-F", str(walk.ssh_config),
                                *[str(walk.here(key)) if word == key else word
                                  for word in rsh[1:]]]))
    write_config(walk.config, **keys)


def run_inosync_step(walk: Walk, args: list[str]) -> None:
    assert walk.config is not None, "an inosync step before the config is written"
    if args[0] == "keygen":
        assert args[2:] == ["--from", "192.0.2.10"], args
        res = run_inosync("keygen", walk.instance(args[1]), "--dir", str(walk.etc),
                          "--from", SOURCE_ADDRESS)
        assert res.returncode == 0, res.stdout + res.stderr
        walk.keygen_lines = res.stdout.splitlines()
        assert as_in_the_readme(walk, walk.keygen_lines) == walk.shown_output, \
            "the README shows other output than keygen prints"
        (rsh,) = [line for line in walk.keygen_lines if line.startswith("rsh = ")]
        assert tomllib.loads(rsh)["rsh"] == tomllib.loads(walk.config.read_text())["rsh"], \
            "the example's rsh is not the one keygen prints: one more edit the README omits"
    elif args[0] == "check":
        assert args[1:] == ["-c", "/etc/inosync/www.toml"], args
        assert walk.checked_without_host_keys, "check ran before the host keys step"
        res = run_inosync("check", "-c", str(walk.config))
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.count("restricted by rrsync") == 2, res.stdout
        assert "ok - 2 node(s) reachable and writable" in res.stdout, res.stdout
    elif args[0] == "status":
        name = walk.instance(args[1])
        wait_until(lambda: run_inosync("status", name).returncode == 0, 30,
                   "inosync status to say OK")
        res = run_inosync("status", name)
        assert [line.split()[1:3] for line in res.stdout.splitlines()
                if line.strip().startswith("root@")] == [["in", "sync"]] * 2, res.stdout
    else:
        pytest.fail(f"README, Getting started: inosync {args[0]} is a step this test does "
                    "not know", pytrace=False)


def as_in_the_readme(walk: Walk, lines: list[str]) -> list[str]:
    """keygen's output with the test's redirections undone, as the README shows it."""
    out = []
    for line in lines:
        line = line.replace(f" -F {walk.ssh_config}", "").replace(str(walk.etc), "/etc/inosync")
        line = line.replace(walk.name, "www").replace(str(walk.rpath), "/srv/www")
        line = line.replace(f'from="{SOURCE_ADDRESS}"', 'from="192.0.2.10"')
        line = line.replace("root@", f"{walk.readme['user']}@").replace(
            "~root/", f"~{walk.readme['user']}/")
        out.append(re.sub(r"ssh-ed25519 \S+ inosync-www@\S+",
                          "ssh-ed25519 AAAA... inosync-www@src", line))
    return out


def install_step(walk: Walk, argv: list[str]) -> None:
    target = argv[-1]
    user = walk.readme.get("user")
    assert target in ("/srv/www", f"~{user}/.ssh", "/root/.ssh"), argv
    # /srv/www: each node's directory exists (the sshd sees it at rpath); the .ssh
    # directories are the fixture's authorized_keys and the test's known_hosts


def append_authorized_key(walk: Walk, argv: list[str]) -> None:
    """The node step's line is keygen's, for this node: into that node's sshd."""
    user, host = walk.readme["user"], walk.readme["host"]
    assert argv[2:] == [">>", f"~{user}/.ssh/authorized_keys"], argv
    printed = as_in_the_readme(walk, walk.keygen_lines)
    at = printed.index(f"# {user}@{host}: append to ~{user}/.ssh/authorized_keys on {host} "
                       "(/srv/www must exist there, owned by that user):")
    assert argv[1] == printed[at + 1], "the README's authorized_keys line is not keygen's"
    server = walk.servers[str(host)]
    with open(server.home / "authorized_keys", "a") as handle:
        handle.write(walk.keygen_lines[at + 1] + "\n")


def record_host_keys(walk: Walk, argv: list[str]) -> None:
    """First check without them: it must name the cause, the file and the line to run.
    Then run the lines check printed, against the fixtures' ports."""
    *hosts, redirect, target = argv[1:]
    assert redirect == ">>" and hosts == sorted(walk.servers), argv
    root_reads = known_hosts_file(ssh_settings(subprocess.run(
        ["ssh", "-G", hosts[0]], capture_output=True, text=True, check=True).stdout), "/root")
    assert target == root_reads, f"root's ssh reads {root_reads}, the README says {target}"
    assert walk.config is not None
    res = run_inosync("check", "-c", str(walk.config))
    said = res.stdout + res.stderr
    assert res.returncode == 1, said
    for host, server in walk.servers.items():
        assert (f"node 'root@{host}': ssh does not know the host key of "
                f"[127.0.0.1]:{server.port}, and inosync runs ssh with BatchMode=yes") in said
    assert said.count("the known_hosts file inosync's ssh reads as root") == 2, said
    scans = re.findall(r"(ssh-keyscan [^;>]*) >> (\S+);", said)
    assert sorted(scans) == sorted((f"ssh-keyscan -p {server.port} 127.0.0.1",
                                    str(walk.known_hosts)) for server in walk.servers.values())
    for scan, file in scans:
        keys = subprocess.run(shlex.split(scan), capture_output=True, check=True, timeout=30)
        assert keys.stdout, f"{scan} found no host key"
        with open(file, "ab") as handle:
            handle.write(keys.stdout)
    walk.checked_without_host_keys = True


def test_getting_started_works_when_followed_step_by_step(
        tmp_path: Path, sshd_factory, daemons: list[Daemon]) -> None:
    walk = Walk(tmp_path, daemons, servers={})
    walk.src.mkdir()
    walk.rpath.mkdir()
    write(walk.src / "index.html", b"<h1>hello</h1>\n")
    for host in ("web1", "web2"):
        (tmp_path / host).mkdir()
        server = sshd_factory(binds={str(walk.rpath): str(tmp_path / host)})
        (server.home / "authorized_keys").write_text("")  # a node no key can log in to yet
        walk.servers[host] = server
    blocks = getting_started()
    assert [lang for lang, _ in blocks].count("sh") >= 6, blocks
    (walk.shown_output,) = [text.splitlines() for lang, text in blocks if lang == "text"]
    for at, (language, text) in enumerate(blocks):
        if language != "sh":
            continue
        lines = [shlex.split(line, comments=True) for line in text.splitlines()]
        steps = [argv for argv in lines if argv]
        on_each_node = any(argv[0] == "useradd" for argv in steps)
        for host in (sorted(walk.servers) if on_each_node else [""]):
            walk.readme["host"] = host
            for argv in steps:
                if on_each_node and argv[0] in ("apt-get", "dnf"):
                    continue  # rsync and rrsync are installed here already
                run_step(walk, argv, text, blocks[at + 1:])
    assert walk.daemons, "the section never starts the instance"
    daemon = walk.daemons[0]
    daemon.assert_alive()
    write(walk.src / "news.html", b"<p>a change under /srv/www</p>\n")
    for host in walk.servers:
        wait_converged(walk.src, tmp_path / host, timeout=30, what=f"the mirror on {host}",
                       alive=daemon.assert_alive)
