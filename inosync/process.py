"""Child processes the main loop can wait on without threads: a pidfd per child.

stdin, stdout and stderr are anonymous memory files, so a long path list never blocks the
loop on a full pipe and output is read once the child has exited.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inosync.rsync.argv import Command

PROBE_TIMEOUT_SECONDS = 60  # a one-shot command's child (check, verify) that never answers


def _memfile(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


class Job:
    """One running child; fileno() becomes readable when it exits."""

    def __init__(self, command: Command, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> None:
        self.command = command
        self.started = time.monotonic()
        stdin = _memfile("stdin", command.stdin)
        self._out = _memfile("stdout")
        self._err = _memfile("stderr")
        try:
            self.popen = subprocess.Popen(
                command.argv, stdin=stdin, stdout=self._out, stderr=self._err,
                start_new_session=True, env=env, cwd=cwd)
        except OSError:
            os.close(self._out)
            os.close(self._err)
            raise
        finally:
            os.close(stdin)
        self._pidfd = os.pidfd_open(self.popen.pid)
        self.returncode: int | None = None
        self.stdout = b""
        self.stderr = b""

    def fileno(self) -> int:
        return self._pidfd

    def poll(self) -> int | None:
        """Reap the child if it has exited; collects its output once."""
        if self.returncode is not None:
            return self.returncode
        code = self.popen.poll()
        if code is None:
            return None
        self.returncode = code
        self.stdout = _read_all(self._out)
        self.stderr = _read_all(self._err)
        for fd in (self._out, self._err, self._pidfd):
            os.close(fd)
        return code

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass  # exited between the check and the kill

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` if it still runs; waits for it (at shutdown,
        where nothing else needs the loop)."""
        self.terminate()
        if self.wait(grace) is None:
            self.kill()
            self.wait(1.0)

    def wait(self, timeout: float) -> int | None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.poll()


class Reaper:
    """Children stopped without waiting for them (a node removed by a reload): SIGTERM now,
    SIGKILL after a grace, reaped once their pidfd, which the loop waits on, says they
    exited. Waiting in the loop instead would stall every other node and the watchdog."""

    def __init__(self) -> None:
        self.kill_at: dict[Job, float] = {}

    def stop(self, job: Job, now: float, grace: float) -> None:
        job.terminate()
        self.kill_at[job] = now + grace

    def deadline(self) -> float | None:
        return min((at for at in self.kill_at.values() if at != math.inf), default=None)

    def expire(self, now: float) -> None:
        for job, at in self.kill_at.items():
            if now >= at:
                job.kill()
                self.kill_at[job] = math.inf  # its exit wakes the loop now

    def reaped(self, job: Job) -> bool:
        """Its pidfd became readable: reap it. False if it still runs after all."""
        if job.poll() is None:
            return False
        self.kill_at.pop(job, None)
        return True

    def close(self) -> None:
        """At exit: whatever still runs is killed and reaped."""
        for job in self.kill_at:
            job.kill()
            job.wait(1.0)
        self.kill_at.clear()


# -- one-shot children, for the commands ------------------------------------------------

@dataclass(frozen=True)
class Ran:
    """What a command did: exit status and its output."""

    code: int
    stdout: str
    stderr: str
    raw_stdout: bytes = b""  # as rsync wrote it: names need not be UTF-8

    def message(self) -> str:
        text = (self.stderr or self.stdout).strip()
        return text.replace("\n", "\n    ") if text else "(no message)"


def run(argv: Sequence[str], stdin: bytes = b"",
        timeout: float = PROBE_TIMEOUT_SECONDS) -> Ran:
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, timeout=timeout)
    except OSError as error:
        return Ran(127, "", f"cannot run {argv[0]}: {error.strerror}")
    except subprocess.TimeoutExpired:
        return Ran(124, "", f"no answer within {timeout:.0f} s")
    return Ran(done.returncode, done.stdout.decode("utf-8", "backslashreplace"),
               done.stderr.decode("utf-8", "backslashreplace"), done.stdout)
