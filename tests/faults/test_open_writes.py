"""A file being written is sent once it is closed, not again and again while it grows."""

from __future__ import annotations

import time
from pathlib import Path

from faults.support import local_mirror, running, wait_for, wait_ready


def rsync_runs(log: str) -> int:
    return log.count(": synced ")


def test_a_growing_file_is_sent_after_close_not_while_written(tmp_path: Path) -> None:
    src, dst, cfg = local_mirror(tmp_path)
    with running(tmp_path, cfg) as daemon:
        wait_ready(daemon, 20)
        before = rsync_runs(daemon.log())
        with open(src / "upload.iso", "wb") as upload:
            deadline = time.monotonic() + 1.2  # a 1.2 s upload, written every 20 ms
            while time.monotonic() < deadline:
                upload.write(b"x" * 65536)
                upload.flush()
                time.sleep(0.02)  # the pace of the writer, not a wait for the daemon
        size = (src / "upload.iso").stat().st_size
        wait_for(lambda: (dst / "upload.iso").exists()
                 and (dst / "upload.iso").stat().st_size == size, 10, "the finished file")
        runs = rsync_runs(daemon.log()) - before
        # the create, and the close; not one run per write (there were ~60 writes)
        assert runs <= 3, f"{runs} rsync runs while one file was written"


def test_a_log_held_open_is_still_mirrored_within_seconds(tmp_path: Path) -> None:
    src, dst, cfg = local_mirror(tmp_path)
    with running(tmp_path, cfg) as daemon:
        wait_ready(daemon, 20)
        with open(src / "app.log", "a") as log:
            log.write("first line\n")
            log.flush()
            wait_for(lambda: (dst / "app.log").exists()
                     and (dst / "app.log").read_text() == "first line\n", 5,
                     "the appended line while the file stays open")
