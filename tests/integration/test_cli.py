"""The command line end to end: `inosync check`, usage errors, --dry-run, bad configs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import Daemon, holds_for, inosync_argv, inosync_env, run_inosync, snapshot, write
from helpers import write_config as write_toml


def output(res: subprocess.CompletedProcess[str]) -> str:
    return res.stdout + res.stderr


def problem_lines(res: subprocess.CompletedProcess[str], config: Path) -> list[str]:
    return [ln for ln in output(res).splitlines() if str(config) in ln]


def test_check_passes_on_a_good_config_with_reachable_nodes(tmp_path, sshd, rsyncd) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (rsyncd.module_path / str(dst).lstrip("/")).mkdir(parents=True)
    cfg = write_toml(tmp_path / "good.toml", wpath=str(src), rpath=str(dst),
                     rnodes=["", sshd.rnode, rsyncd.rnode], rsh=sshd.rsh,
                     rexcludes=["*.tmp", "/cache/", "tmp/**"], extra="--numeric-ids",
                     rspeed=0, rsync="rsync", log_level="info", max_delete_share=0.5)
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 0, output(res)
    assert "Traceback" not in output(res)
    assert os.listdir(dst) == [] or all(not n.startswith(".") for n in os.listdir(dst)), \
        "check left probe files behind on the node"


def test_check_reports_every_config_problem_one_line_each(tmp_path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        'wpath = "relative/dir"\n'
        'rpath = "/"\n'
        'rnodes = "not-a-list"\n'
        'rspeed = "fast"\n'
        'rexclude = ["*.tmp"]\n'  # did you mean rexcludes?
    )
    res = run_inosync("check", "-c", str(cfg))
    out = output(res)
    assert res.returncode == 78, out
    assert "Traceback" not in out
    lines = problem_lines(res, cfg)
    for key in ("wpath", "rpath", "rnodes", "rspeed", "rexclude"):
        assert any(key in ln for ln in lines), f"no line names {key}:\n{out}"
    assert len(lines) >= 5, f"expected one line per problem (5):\n{out}"
    assert "rexcludes" in out, "no did-you-mean for rexclude"


@pytest.mark.parametrize("content", ["wpath = \n", "[[[", "wpath = '/x'\nwpath = '/y'\n",
                                     b"\xff\xfe = 1\n"])
def test_check_rejects_unparsable_toml_without_a_traceback(tmp_path, content) -> None:
    cfg = tmp_path / "broken.toml"
    cfg.write_bytes(content if isinstance(content, bytes) else content.encode())
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 78, output(res)
    assert "Traceback" not in output(res)
    assert problem_lines(res, cfg), output(res)


def test_check_on_a_missing_config_file(tmp_path) -> None:
    res = run_inosync("check", "-c", str(tmp_path / "nope.toml"))
    assert res.returncode == 78, output(res)
    assert "Traceback" not in output(res)


def test_check_fails_with_1_when_a_node_probe_fails(tmp_path, sshd_factory) -> None:
    down = sshd_factory(start=False)
    src = tmp_path / "src"
    src.mkdir()
    cfg = write_toml(tmp_path / "down.toml", wpath=str(src), rpath=str(tmp_path / "dst"),
                     rnodes=["", down.rnode], rsh=down.rsh)
    (tmp_path / "dst").mkdir()
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 1, output(res)
    assert "Traceback" not in output(res)
    assert "127.0.0.1" in output(res), "the failing node is not named"


def test_check_local_mirror_inside_wpath_is_a_config_error(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    cfg = write_toml(tmp_path / "inside.toml", wpath=str(src), rpath=str(src / "mirror"),
                     rnodes=[""])
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 78, output(res)
    assert "rpath" in output(res) or "rnodes" in output(res)


@pytest.mark.parametrize("args", [["--bogus"], ["-c"], ["check"], ["check", "--nope"]])
def test_usage_errors_exit_2(args) -> None:
    res = run_inosync(*args)
    assert res.returncode == 2, output(res)
    assert "Traceback" not in output(res)


def test_version_and_help() -> None:
    res = run_inosync("--version")
    assert res.returncode == 0 and "0." in output(res), output(res)
    res = run_inosync("-h")
    assert res.returncode == 0 and "-c" in output(res), output(res)


def test_daemon_exits_78_on_a_bad_config_and_touches_nothing(tmp_path) -> None:
    dst = tmp_path / "dst"
    write(dst / "keep", b"k")
    cfg = write_toml(tmp_path / "bad.toml", wpath=str(tmp_path / "src"), rpath=str(dst),
                     rnodes=[""], bogus=1)
    (tmp_path / "src").mkdir()
    res = subprocess.run(inosync_argv("-c", str(cfg)), env=inosync_env(), capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 78, output(res)
    assert "Traceback" not in output(res)
    assert os.listdir(dst) == ["keep"]


def test_daemon_with_a_missing_wpath_fails_cleanly(tmp_path) -> None:
    cfg = write_toml(tmp_path / "nowpath.toml", wpath=str(tmp_path / "missing"),
                     rpath=str(tmp_path / "dst"), rnodes=[""])
    res = subprocess.run(inosync_argv("-c", str(cfg)), env=inosync_env(), capture_output=True,
                         text=True, timeout=30)
    assert res.returncode in (1, 78), output(res)
    assert "Traceback" not in output(res)
    assert "missing" in output(res)


def test_dry_run_changes_nothing_on_the_node(mirror, daemons) -> None:
    m = mirror()
    write(m.src / "new-file", b"would be sent")
    write(m.src / "dir/f", b"would be sent")
    write(m.dst / "stale", b"would be deleted")
    write(m.dst / "dir/f", b"would be overwritten")
    before = snapshot(m.dst)
    d = m.start(args=["-v", "--dry-run"])
    write(m.src / "later", b"x")
    os.rename(m.src / "dir", m.src / "renamed-dir")
    os.unlink(m.src / "new-file")
    def handled_later(log: str) -> bool:
        at = log.find("later")  # the event for `later` was seen, and a run logged after it
        return at >= 0 and "rsync" in log[at:]

    d.wait_log(handled_later, 15, "the rsync command it would run for the new file")
    holds_for(lambda: snapshot(m.dst) == before, 2.0, "the node staying untouched")
    d.stop()
    assert snapshot(m.dst) == before
    assert isinstance(d, Daemon)


# -- check runs the daemon's own rsync; errors are said once ---------------------------

def local_config(tmp_path: Path, **keys: object) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "file").write_text("x")
    keys.setdefault("rpath", str(tmp_path / "dst"))
    return write_toml(tmp_path / "w.toml", wpath=str(src), rnodes=[""], **keys)


def test_check_runs_the_daemons_rsync_so_a_bad_extra_option_fails(tmp_path) -> None:
    cfg = local_config(tmp_path, extra="--no-such-option")
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 1, output(res)
    assert "fix extra" in output(res) and "--no-such-option: unknown option" in output(res)
    assert "Traceback" not in output(res)


def test_check_fails_when_rpath_is_a_regular_file(tmp_path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    cfg = local_config(tmp_path, rpath=str(tmp_path / "afile"))
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 1, output(res)
    assert "rpath" in output(res) and "not a directory" in output(res).lower()


def test_check_gives_an_rsync_daemons_whole_message(tmp_path, rsyncd) -> None:
    src = tmp_path / "src"
    src.mkdir()
    node = rsyncd.rnode.rsplit("/", 1)[0] + "/no-such-module"
    cfg = write_toml(tmp_path / "w.toml", wpath=str(src), rpath="/dst", rnodes=[node])
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 1, output(res)
    assert "@ERROR: Unknown module 'no-such-module'" in output(res)
    assert "rnodes" in output(res)


def test_check_names_the_rsync_key_for_a_missing_binary(tmp_path) -> None:
    cfg = local_config(tmp_path, rsync="/nonexistent/rsync")
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 1, output(res)
    (line,) = problem_lines(res, cfg)
    assert "rsync" in line and "/nonexistent/rsync" in line and "fix the rsync key" in line


def test_a_missing_rsync_binary_is_logged_once_not_at_every_retry(tmp_path) -> None:
    cfg = local_config(tmp_path, rsync="/nonexistent/rsync")
    daemon = Daemon(tmp_path, cfg).start()
    try:
        daemon.wait_log(lambda text: text.count("still failing") >= 3, 20, "three retries")
        errors = [ln for ln in daemon.log().splitlines()
                  if " ERROR " in ln and "/nonexistent/rsync" in ln]
        # One line when it starts, one when the node starts failing; none per retry.
        assert len(errors) == 2, errors
        assert all("fix the rsync key" in line for line in errors)
    finally:
        daemon.stop()
        daemon.close()


@pytest.mark.parametrize("content, expected", [
    ("wpath = 5\nrpath = \"/srv/m\"\nrnodes = [\"\"]\n", "wpath: must be a string"),
    ("\ufeffwpath = \"/srv\"\n", "byte order mark"),
])
def test_a_bad_value_is_one_line(tmp_path, content: str, expected: str) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text(content, encoding="utf-8")
    res = run_inosync("check", "-c", str(cfg))
    assert res.returncode == 78
    lines = problem_lines(res, cfg)
    assert len(lines) == 1 and expected in lines[0], output(res)


def test_demo_on_a_file_is_a_clear_error(tmp_path) -> None:
    target = tmp_path / "some-file"
    target.write_text("x")
    res = run_inosync("demo", str(target))
    assert res.returncode == 2
    assert "Traceback" not in output(res) and str(target) in output(res)


def test_a_run_that_exits_early_leaves_no_runtime_directory(tmp_path) -> None:
    cfg = write_toml(tmp_path / "early-exit.toml", wpath=str(tmp_path / "missing"),
                     rpath=str(tmp_path / "dst"), rnodes=[""])
    before = set(os.listdir("/tmp"))
    res = run_inosync("-c", str(cfg))
    assert res.returncode == 1
    made = set(os.listdir("/tmp")) - before  # (another suite's notify sockets are not ours)
    assert {n for n in made if n.startswith("inosync-")
            and not n.startswith("inosync-notify-")} == set()
    assert not os.path.exists("/run/inosync/early-exit")
