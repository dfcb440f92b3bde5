"""on_sync hooks for tests: one that records what it was given, one that hangs, one that
fails. Each is a real executable run by the daemon, as a sysadmin's would be."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from .tree import wait_until

RECORDER = '''#!{python}
import json, os, sys, time
out = {out!r}
started = time.time()
stdin = sys.stdin.buffer.read()
with open(os.environ["INOSYNC_PATHS_FILE"], "rb") as again:
    reopened = again.read()
env = {{k: v for k, v in os.environ.items() if k.startswith("INOSYNC_")}}
time.sleep({sleep})
name = "%.6f-%d.json" % (started, os.getpid())
record = dict(argv=sys.argv[1:], env=env, paths=[p for p in stdin.decode(
    "utf-8", "surrogateescape").split("\\0") if p], reopened=reopened == stdin,
    started=started, ended=time.time(), cwd=os.getcwd())
with open(os.path.join(out, name + ".tmp"), "w") as f:
    json.dump(record, f)
os.rename(os.path.join(out, name + ".tmp"), os.path.join(out, name))
'''

HANGING = '''#!/bin/sh
echo "$$" >> {out}/hung.pids
sleep 3600 &
echo "$!" >> {out}/hung.pids
wait
'''

FAILING = '''#!/bin/sh
echo "purge refused: zone www is locked" >&2
exit 3
'''


def install(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def recorder(directory: Path, sleep: float = 0.0) -> tuple[Path, Path]:
    """(the hook, the directory its records land in)"""
    out = directory / "hook-records"
    out.mkdir(exist_ok=True)
    return install(directory, "record-hook", RECORDER.format(
        python=sys.executable, out=str(out), sleep=sleep)), out


def hanging(directory: Path) -> tuple[Path, Path]:
    """(the hook, the file its pids land in: its own and its child's)"""
    return install(directory, "hang-hook", HANGING.format(out=str(directory))), \
        directory / "hung.pids"


def failing(directory: Path) -> Path:
    return install(directory, "fail-hook", FAILING)


def records(out: Path) -> list[dict[str, Any]]:
    """What the recorder was given, oldest run first."""
    found = []
    for path in sorted(out.glob("*.json")):
        found.append(json.loads(path.read_text()))
    return sorted(found, key=lambda r: r["started"])


def wait_records(out: Path, predicate: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The records once `predicate` holds for them; fails after `timeout`."""
    wait_until(lambda: predicate(records(out)), timeout, f"the hook's records in {out}")
    return records(out)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
