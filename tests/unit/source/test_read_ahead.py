"""ReadAhead with a pipe standing in for the watcher's fd: order kept, never blocking, and
nothing read past its limit (the kernel's queue takes the rest)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from inosync.source.read_ahead import ReadAhead


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe2(os.O_NONBLOCK)
    try:
        yield read_end, write_end
    finally:
        os.close(read_end)
        os.close(write_end)


def test_nothing_queued_reads_nothing_and_does_not_block(pipe: tuple[int, int]) -> None:
    ahead = ReadAhead(pipe[0])
    ahead.take()
    assert not ahead and ahead.next_chunk() is None and ahead.all() == b""


def test_what_was_read_comes_out_oldest_first(pipe: tuple[int, int]) -> None:
    ahead = ReadAhead(pipe[0])
    os.write(pipe[1], b"first ")
    ahead.take()
    os.write(pipe[1], b"second")
    ahead.take()
    assert ahead and ahead.held == 12
    assert ahead.next_chunk() == b"first "
    assert ahead.all() == b"second"
    assert not ahead and ahead.held == 0


def test_past_its_limit_it_leaves_the_rest_queued(pipe: tuple[int, int]) -> None:
    ahead = ReadAhead(pipe[0], limit=4)
    os.write(pipe[1], b"abcdefgh")
    ahead.take()
    assert ahead.all() == b"abcdefgh"  # one read may pass the limit; the next does not run
    os.write(pipe[1], b"12345678")
    ahead.take()
    ahead.take()
    assert ahead.held == 8
    os.write(pipe[1], b"more")
    ahead.take()
    assert ahead.all() == b"12345678"
    assert os.read(pipe[0], 100) == b"more"
