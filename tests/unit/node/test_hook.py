"""A node's hook with real child processes: one run at a time, syncs merged meanwhile, a run
past its timeout killed with its children, failures counted and logged once per state."""

from __future__ import annotations

import logging
import os
import select
import time

import pytest

from inosync.config.load import Config, validate
from inosync.node.hook import Hook, hook_problems, program_problem


def cfg(argv: list[str], timeout: float = 60) -> Config:
    return validate({"wpath": "/srv/www", "rpath": "/srv/mirror", "rnodes": [""], "on_sync": argv,
                     "on_sync_timeout": timeout}, "/etc/inosync/www.toml",
                    exists=lambda p: True)


def finish(hook: Hook, limit: float = 10.0) -> None:
    assert hook.job is not None
    select.select([hook.job], [], [], limit)
    assert hook.done(time.time())


def test_one_run_at_a_time_and_what_finishes_meanwhile_waits_for_the_next() -> None:
    c = cfg(["/bin/sh", "-c", "cat > /dev/null"])
    hook = Hook("n")
    hook.synced(c, "batch", ["a"], [], 0, 1)
    assert hook.due()
    assert hook.start(c, c.nodes[0], "www", time.monotonic(), time.time(), False) is not None
    hook.synced(c, "batch", ["b"], [], 0, 1)
    hook.synced(c, "batch", ["c"], [], 0, 1)
    assert not hook.due(), "a second run started while the first ran"
    finish(hook)
    assert hook.due() and hook.queued is not None and list(hook.queued.paths) == ["b", "c"]
    assert hook.runs == 1 and hook.failures == 0


def test_no_hook_configured_queues_nothing() -> None:
    c = validate({"wpath": "/srv/www", "rpath": "/srv/m", "rnodes": [""]}, "f",
                 exists=lambda p: True)
    hook = Hook("n")
    hook.synced(c, "full", [], [], 0, 1)
    assert not hook.due()


def test_failures_are_logged_once_counted_and_the_recovery_said(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "inosync.node")
    failing = cfg(["/bin/sh", "-c", "echo locked >&2; exit 3"])
    hook = Hook("web1")
    for _ in range(3):
        hook.synced(failing, "batch", ["a"], [], 0, 1)
        hook.start(failing, failing.nodes[0], "www", time.monotonic(), time.time(), False)
        finish(hook)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "on_sync exited with 3: locked" in errors[0].getMessage()
    assert hook.failures == 3 and hook.failing and hook.last_error == "exited with 3: locked"
    fixed = cfg(["/bin/true"])
    hook.synced(fixed, "batch", ["a"], [], 0, 1)
    hook.start(fixed, fixed.nodes[0], "www", time.monotonic(), time.time(), False)
    finish(hook)
    assert not hook.failing and hook.runs == 4
    assert any("works again after 3 failed runs" in r.getMessage() for r in caplog.records)


def test_a_program_that_cannot_start_is_a_failure_not_a_crash() -> None:
    c = cfg(["/nonexistent/hook"])
    hook = Hook("n")
    hook.synced(c, "batch", ["a"], [], 0, 1)
    assert hook.start(c, c.nodes[0], "www", time.monotonic(), time.time(), False) is None
    assert hook.failures == 1 and "cannot run /nonexistent/hook" in hook.last_error


def test_a_run_past_its_timeout_is_killed_with_its_children(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pids = tmp_path / "pids"
    c = cfg(["/bin/sh", "-c", f"sleep 60 & echo $! > {pids}; wait"], timeout=1)
    hook = Hook("n")
    hook.synced(c, "batch", ["a"], [], 0, 1)
    now = time.monotonic()
    hook.start(c, c.nodes[0], "www", now, time.time(), False)
    while not pids.exists() or not pids.read_text().strip():
        time.sleep(0.02)
    child = int(pids.read_text())
    deadline = hook.deadline()
    assert deadline is not None and deadline == pytest.approx(now + 1, abs=0.05)
    hook.expire(deadline)  # SIGTERM to the group
    finish(hook)
    assert "ran longer than on_sync_timeout (1 s)" in hook.last_error
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the hook's child outlived it")


def test_dry_run_runs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "inosync.node")
    c = cfg(["/bin/false"])
    hook = Hook("n")
    hook.synced(c, "full", [], [], 0, 1)
    assert hook.start(c, c.nodes[0], "www", time.monotonic(), time.time(), True) is None
    assert hook.runs == 0 and "would run on_sync /bin/false (full sync, everything)" in \
        caplog.text


def test_check_finds_hooks_that_cannot_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "plain"
    plain.write_text("")
    assert program_problem(("/bin/true",)) == ""
    assert program_problem(("true",)) == ""
    assert "does not exist" in program_problem((str(tmp_path / "none"),))
    assert program_problem((str(plain),)) == f"{plain} is not executable - chmod +x it"
    assert "is not found on PATH" in program_problem(("no-such-program-here",))
    c = validate({"wpath": "/srv/www", "rpath": "/srv/m", "on_sync": [str(plain)],
                  "rnodes": ["", {"node": "h::m", "on_sync": ["no-such-program-here"]}]},
                 "f", exists=lambda p: True)
    found = hook_problems(c)
    assert found[0].startswith("on_sync: ") and found[1].startswith("rnodes[1].on_sync: ")
