"""`inosync migrate` end to end: the written files pass `inosync check` and really mirror."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import Daemon, Sshd, run_inosync, wait_converged, wait_until, write

from inosync.config.load import load


def output(res: subprocess.CompletedProcess[str]) -> str:
    return res.stdout + res.stderr


def test_an_old_inosync_config_mirrors_and_keeps_its_rsync_log(tmp_path: Path,
                                                                daemons: list[Daemon]) -> None:
    src, dst, log = tmp_path / "src", tmp_path / "dst", tmp_path / "log" / "updates.log"
    src.mkdir()
    log.parent.mkdir()
    write(src / "index.html", b"<h1>old</h1>\n")
    old = tmp_path / "www.py"
    old.write_text(f'# the older inosync\'s sample, set up for this machine\n'
                   f'wpaths = ["{src}/"]\nrpaths = ["{dst}"]\nrnodes = [\n\t"",\n]\n'
                   f'rexcludes = [\n\t"*.swp",\n]\nextra = "--rsh=ssh -a"\n#rspeed = 0\n'
                   f'edelay = 10\nlogfile = "{log}"\n')
    out = tmp_path / "etc"
    res = run_inosync("migrate", str(old), "--out-dir", str(out))
    assert res.returncode == 0, output(res)
    assert "systemctl enable --now inosync@www" in res.stdout
    assert f"{old}:12: edelay: dropped" in res.stdout
    config = out / "www.toml"
    res = run_inosync("check", "-c", str(config))
    assert res.returncode == 0, output(res) + config.read_text()

    daemon = Daemon(tmp_path, config).start()
    daemons.append(daemon)
    daemon.wait_ready()
    write(src / "new.txt", b"hello\n")
    write(src / "new.swp", b"swap\n")
    wait_converged(src, dst, excludes=["*.swp"], alive=daemon.assert_alive)
    assert not (dst / "new.swp").exists()
    wait_until(lambda: log.exists() and b">f+++++++++ new.txt" in log.read_bytes(), 10,
               "rsync's log of updates to name new.txt")
    assert b"index.html" in log.read_bytes()


LSYNCD = """\
settings {{
    logfile    = "/var/log/lsyncd/lsyncd.log",
    statusFile = "/var/log/lsyncd/lsyncd.status",
    maxProcesses = 1,
}}
sync {{
    default.rsyncssh,
    source    = "{src}",
    host      = "root@127.0.0.1",
    targetdir = "{ssh_dst}",
    delay     = 5,
    exclude   = {{ "*.tmp" }},
    rsync     = {{ archive = true, compress = true }},
    ssh       = {{
        port = {port},
        identityFile = "{key}",
        options = {{ StrictHostKeyChecking = "no", UserKnownHostsFile = "/dev/null",
                    LogLevel = "ERROR" }},
    }},
}}
sync {{ default.rsync, source = "{src}", target = "{local_dst}/", delay = 1 }}
"""


def test_an_lsyncd_config_becomes_instances_that_check_accepts(tmp_path: Path, sshd: Sshd,
                                                               daemons: list[Daemon]) -> None:
    src, ssh_dst, local_dst = tmp_path / "src", tmp_path / "ssh-dst", tmp_path / "local-dst"
    src.mkdir()
    write(src / "a" / "file.txt", b"content\n")
    old = tmp_path / "lsyncd.conf.lua"
    old.write_text(LSYNCD.format(src=src, ssh_dst=ssh_dst, local_dst=local_dst,
                                 port=sshd.port, key=sshd.client_key))
    out = tmp_path / "etc"
    res = run_inosync("migrate", str(old), "--out-dir", str(out))
    assert res.returncode == 0, output(res)
    assert sorted(p.name for p in out.iterdir()) == ["src-2.toml", "src.toml"]
    assert res.stdout.count("systemctl enable --now inosync@") == 2
    for config in out.iterdir():
        res = run_inosync("check", "-c", str(config))
        assert res.returncode == 0, output(res) + config.read_text()

    daemon = Daemon(tmp_path, out / "src.toml").start()
    daemons.append(daemon)
    daemon.wait_ready()
    write(src / "b.txt", b"over ssh\n")
    write(src / "skip.tmp", b"excluded\n")
    wait_converged(src, ssh_dst, excludes=["*.tmp"], alive=daemon.assert_alive)
    assert not (ssh_dst / "skip.tmp").exists()


TWO_BLOCKS = """\
sync {{ default.rsync, source = "{www}", target = "{www_dst}", delete = "running" }}
sync {{
    default.rsyncssh,
    source    = "{logs}",
    host      = "root@127.0.0.1",
    targetdir = "{logs_dst}",
    delete    = false,
    ssh       = {{
        port = {port},
        identityFile = "{key}",
        options = {{ StrictHostKeyChecking = "no", UserKnownHostsFile = "/dev/null",
                    LogLevel = "ERROR" }},
    }},
}}
"""


def test_every_block_is_written_whatever_its_delete(tmp_path: Path, sshd: Sshd,
                                                    daemons: list[Daemon]) -> None:
    www, logs = tmp_path / "www", tmp_path / "logs"
    www_dst, logs_dst = tmp_path / "www-dst", tmp_path / "logs-dst"
    for tree in (www, logs):
        write(tree / "index.html", b"<h1>hi</h1>\n")
    write(www / "gone.txt", b"deleted on the source later\n")
    write(www_dst / "only-on-node.txt", b"lsyncd's running mode never deleted this\n")
    old = tmp_path / "lsyncd.conf.lua"
    old.write_text(TWO_BLOCKS.format(www=www, www_dst=www_dst, logs=logs, logs_dst=logs_dst,
                                     port=sshd.port, key=sshd.client_key))
    out = tmp_path / "etc"
    res = run_inosync("migrate", str(old), "--out-dir", str(out))
    # false cannot be kept as it was: both files written, the difference said, exit 1.
    assert res.returncode == 1, output(res)
    assert sorted(p.name for p in out.iterdir()) == ["logs.toml", "www.toml"], output(res)
    assert f'{old}:1: delete: "running" became max_delete_share = 0' in res.stdout
    assert f"{old}:7: delete: false became max_delete_share = 0" in res.stdout
    assert f"{old}:7: delete: false is not kept" in res.stderr
    assert "nothing written" not in output(res) and "not migrated" not in output(res)
    assert res.stdout.count("systemctl enable --now inosync@") == 2
    for name in ("www", "logs"):
        config = out / f"{name}.toml"
        text = config.read_text()
        assert load(str(config)).max_delete_share == 0, text
        assert "\nmax_delete_share = 0\n" in text and "became max_delete_share = 0" in text
        res = run_inosync("check", "-c", str(config))
        assert res.returncode == 0, output(res) + text

    # "running" as written: the start-up full sync deletes nothing on the node (and says
    # so), a deletion seen while running is mirrored.
    daemon = Daemon(tmp_path, out / "www.toml").start()
    daemons.append(daemon)
    daemon.wait_ready()
    daemon.wait_status(lambda s: "deletions refused" in s, 20, "deletions refused")
    assert (www_dst / "gone.txt").exists()
    (www / "gone.txt").unlink()
    wait_until(lambda: not (www_dst / "gone.txt").exists(), 10, "gone.txt deleted on the node")
    assert (www_dst / "only-on-node.txt").exists()
    assert (www_dst / "index.html").read_bytes() == b"<h1>hi</h1>\n"


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    old = tmp_path / "lsyncd.conf.lua"
    old.write_text(f'sync{{default.rsync, source="{src}", target="{tmp_path}/one"}}\n'
                   f'sync{{default.rsync, source="{tmp_path}/other", target="{tmp_path}/two"}}\n')
    out = tmp_path / "etc"
    out.mkdir()
    (out / "src.toml").write_text("# mine\n")
    res = run_inosync("migrate", str(old), "--out-dir", str(out))
    assert res.returncode == 1, output(res)
    assert (out / "src.toml").read_text() == "# mine\n"
    assert f"{out}/src.toml: exists - left alone" in res.stderr
    # The other block was written, but its wpath does not exist here: said so, exit 1.
    assert (out / "other.toml").exists()
    assert "written, but" in res.stderr and "is not an existing directory" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["other.toml", "src.toml"]


def test_exit_codes(tmp_path: Path) -> None:
    out = tmp_path / "etc"
    assert run_inosync("migrate").returncode == 2
    res = run_inosync("migrate", str(tmp_path / "missing.py"), "--out-dir", str(out))
    assert res.returncode == 78 and "cannot read it" in res.stderr, output(res)
    broken = tmp_path / "broken.py"
    broken.write_text('wpath = "/srv"\nprint "old python"\n')
    res = run_inosync("migrate", str(broken), "--out-dir", str(out))
    assert res.returncode == 78 and f"{broken}:2:" in res.stderr, output(res)
    code = tmp_path / "code.py"
    code.write_text('import os\nwpath = os.environ["WPATH"]\nrnodes = [""]\n')
    res = run_inosync("migrate", str(code), "--out-dir", str(out))
    assert res.returncode == 1, output(res)
    assert f"{code}:1: an import is code" in res.stderr
    assert f"{code}:2: wpath:" in res.stderr and "nothing written" in res.stderr
    assert "Traceback" not in output(res) and not out.exists()
