"""`inosync check` on a file the service runs warns about what the unit's sandbox breaks."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import inosync_argv, inosync_env, run_inosync, write_config
from helpers.daemon import CODE


@pytest.fixture
def var_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="inosync-sandbox-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def check_in_etc_inosync(tmp_path: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """Run check on the config as /etc/inosync/NAME.toml, in a mount namespace of its own
    where /etc is an overlay: this machine's /etc is never written."""
    upper, work = tmp_path / "etc-upper", tmp_path / "etc-work"
    upper.mkdir()
    work.mkdir()
    target = f"/etc/inosync/{config.name}"
    script = " && ".join([
        "mount --make-rprivate /",
        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc",
        "mkdir -p /etc/inosync",
        f"cp {shlex.quote(str(config))} {target}",
        "exec " + shlex.join(inosync_argv("check", "-c", target)),
    ])
    return subprocess.run(["unshare", "--mount", "sh", "-c", script], env=inosync_env(),
                          cwd=CODE, text=True, capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_check_warns_about_a_private_tmp_wpath_and_a_read_only_local_rpath(
        tmp_path: Path, var_tmp: Path) -> None:
    src = var_tmp / "src"
    src.mkdir()
    (src / "index.html").write_text("hello")
    rpath = f"/etc/inosync-mirror-{os.getpid()}"  # inside the overlay only
    config = write_config(tmp_path / "site.toml", wpath=str(src), rpath=rpath, rnodes=[""])
    res = check_in_etc_inosync(tmp_path, config)
    said = res.stdout + res.stderr
    assert res.returncode == 0, said  # warnings, not failures: it runs by hand as it is
    warnings = [line for line in res.stderr.splitlines() if ": warning: " in line]
    assert len(warnings) == 2, said
    tmp_warning, rpath_warning = warnings
    assert tmp_warning.startswith(f"/etc/inosync/site.toml: warning: wpath {src} is under "
                                  "/var/tmp, which inosync@site does not see"), said
    assert "PrivateTmp=yes" in tmp_warning and "PrivateTmp=no" in tmp_warning
    assert "systemctl edit inosync@site" in tmp_warning
    assert f"rpath {rpath} of the local node is read-only to inosync@site" in rpath_warning
    assert "ProtectSystem=full mounts /etc read-only" in rpath_warning
    assert f"ReadWritePaths={rpath}" in rpath_warning
    assert "/etc/systemd/system/inosync@site.service.d/override.conf" in rpath_warning
    assert not os.path.exists(rpath), "the overlay leaked onto this machine's /etc"
    # The same file where the service does not read it is run by hand: no sandbox there.
    elsewhere = write_config(tmp_path / "by-hand.toml", wpath=str(src),
                             rpath=str(var_tmp / "dst"), rnodes=[""])
    res = run_inosync("check", "-c", str(elsewhere))
    assert res.returncode == 0 and "warning" not in res.stderr, res.stdout + res.stderr
