"""A source file rsync cannot read must not stall a node or stop its deletions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.daemon import write_config

from faults.support import open_world, running, wait_for


@pytest.fixture
def world() -> Iterator[Path]:
    """A tree an unprivileged rsync can walk."""
    with open_world("inosync-unreadable-") as top:
        yield top


def test_unreadable_file_is_left_out_and_deletions_go_on(world: Path) -> None:
    src, dst = world / "src", world / "dst"
    src.mkdir()
    dst.mkdir()
    os.chown(dst, 65534, 65534)
    (src / "ok").write_text("readable")
    (src / "doomed").write_text("deleted later")
    secret = src / "secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    wrapper = world / "rsync-as-nobody"
    wrapper.write_text("#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups "
                       "rsync \"$@\"\n")
    wrapper.chmod(0o755)
    cfg = write_config(world / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                       rsync=str(wrapper))
    with running(world, cfg) as daemon:
        daemon.wait_log(lambda text: "cannot read" in text and "secret" in text, 20,
                        "the unreadable file named in the log")
        wait_for(lambda: any(m.startswith("STATUS=in sync") for _, m in daemon.messages), 20,
                 "in sync without the unreadable file")
        assert (dst / "ok").read_text() == "readable" and not (dst / "secret").exists()
        (src / "doomed").unlink()
        wait_for(lambda: not (dst / "doomed").exists(), 10, "a deletion after the failure")
        secret.chmod(0o644)
        wait_for(lambda: (dst / "secret").exists(), 10, "the file once readable")
        assert (dst / "secret").read_text() == "root only"
