"""Programs that keep files open and write into them: logrotate with a live writer, sqlite.

Every node kind must end with the same bytes once the writers are done, and the node's copy
of a database must open cleanly in sqlite.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Daemon, Mirror, Rsyncd, Sshd, wait_until
from helpers.clients import converged, every_kind_mirror, run


@pytest.fixture
def mirror3(tmp_path: Path, sshd_factory: Callable[..., Sshd], rsyncd: Rsyncd,
            daemons: list[Daemon]) -> Mirror:
    return every_kind_mirror(tmp_path, sshd_factory, rsyncd, daemons)


# ---- logrotate ----


@pytest.fixture(scope="session")
def logrotate() -> str:
    """Debian's logrotate, installed here only when missing (scripts/setup test installs it)."""
    found = shutil.which("logrotate")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("logrotate is not installed - run: bash scripts/setup test")
    apt = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", "logrotate"]
    if run(apt, check=False, timeout=600).returncode != 0:
        run(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=300"], timeout=600)
        run(apt, timeout=600)
    found = shutil.which("logrotate")
    assert found, "apt-get installed logrotate but it is not on PATH"
    return found


class LogWriter:
    """Appends lines to logs as daemons do: `held` files stay open (O_APPEND, so a
    copytruncate leaves no hole), the others are reopened for every line."""

    def __init__(self, held: list[Path], reopened: list[Path]) -> None:
        self.held = held
        self.reopened = reopened
        self.lines = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        fds = [os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) for p in self.held]
        try:
            while not self._stop.is_set():
                line = b"line %d %s\n" % (self.lines, b"x" * (self.lines % 80))
                for fd in fds:
                    os.write(fd, line)
                for path in self.reopened:
                    with open(path, "ab") as f:
                        f.write(line)
                self.lines += 1
                self._stop.wait(0.002)  # the writer's pace, not a wait for a result
        finally:
            for fd in fds:
                os.close(fd)

    def __enter__(self) -> LogWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


LOGROTATE_CONF = """\
"{logs}/app.log" {{
    create 0640 root root
    rotate 3
    missingok
}}
"{logs}/held.log" {{
    copytruncate
    rotate 2
}}
"{logs}/compressed.log" {{
    create
    compress
    rotate 3
}}
"{logs}/delayed.log" {{
    copytruncate
    compress
    delaycompress
    rotate 4
}}
"""


def test_logrotate_create_copytruncate_compress_while_a_writer_appends(
        mirror3, tmp_path, logrotate) -> None:
    m = mirror3
    logs = m.src / "logs"
    logs.mkdir()
    conf = tmp_path / "logrotate.conf"
    conf.write_text(LOGROTATE_CONF.format(logs=logs))
    state = tmp_path / "logrotate.state"
    m.start()
    converged(m, "the start-up sync")
    with LogWriter(held=[logs / "held.log", logs / "delayed.log"],
                   reopened=[logs / "app.log", logs / "compressed.log"]) as writer:
        for round_ in range(5):
            before = writer.lines
            wait_until(lambda: writer.lines >= before + 150, 20,  # noqa: B023
                       f"the writer to add 150 lines before rotation {round_}")
            run([logrotate, "-f", "-s", str(state), str(conf)])
    converged(m, "five forced rotations while the writer appended")
    names = sorted(os.listdir(logs))
    for expected in ("app.log.3", "held.log.2", "compressed.log.3.gz", "delayed.log.1",
                     "delayed.log.4.gz"):
        assert expected in names, f"logrotate made no {expected}: {names}"


# ---- sqlite ----


def write_transactions(path: Path, journal_mode: str, count: int) -> int:
    """`count` transactions of inserts, updates and deletes; returns the rows left."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        mode = db.execute(f"PRAGMA journal_mode={journal_mode}").fetchone()[0]
        assert mode == journal_mode, f"{path}: sqlite chose journal_mode {mode}"
        db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
        for i in range(count):
            db.execute("BEGIN")
            db.executemany("INSERT INTO t (body) VALUES (?)",
                           [(os.urandom(200 + 50 * j),) for j in range(5)])
            db.execute("UPDATE t SET body = ? WHERE id = ?", (os.urandom(300), i // 2 + 1))
            if i % 10 == 9:
                db.execute("DELETE FROM t WHERE id % 7 = ?", (i % 7,))
            db.execute("COMMIT")
        return int(db.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        db.close()


def check_copy(node_db: Path, scratch: Path, rows: int) -> None:
    """Open a copy of the node's database (opening it in place would add -wal/-shm files)."""
    copy = scratch / node_db.name
    shutil.copyfile(node_db, copy)
    db = sqlite3.connect(copy)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", node_db
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == rows, node_db
    finally:
        db.close()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


def test_sqlite_wal_and_rollback_journal_copies_are_byte_identical(mirror3, scratch) -> None:
    m = mirror3
    m.start()
    converged(m, "the start-up sync")
    dbs = m.src / "db"
    dbs.mkdir()
    rows = {}
    for name, mode in (("wal.sqlite", "wal"), ("journal.sqlite", "delete"),
                       ("persist.sqlite", "persist")):
        rows[name] = write_transactions(dbs / name, mode, 300)
    cli = shutil.which("sqlite3")
    if cli:  # the command-line shell too: one process per statement, as scripts use it
        for i in range(20):
            run([cli, dbs / "wal.sqlite", f"INSERT INTO t (body) VALUES (x'{i:04x}');"])
        rows["wal.sqlite"] += 20
    assert not (dbs / "wal.sqlite-wal").exists(), "the last close should remove the WAL"
    converged(m, "sqlite transactions in WAL, delete and persist journal modes")
    for node in m.nodes:
        for name, count in rows.items():
            node_db = node.dst / "db" / name
            assert node_db.read_bytes() == (dbs / name).read_bytes(), f"{node.kind}: {name}"
            (scratch / node.kind).mkdir(exist_ok=True)
            check_copy(node_db, scratch / node.kind, count)
