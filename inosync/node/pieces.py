"""A node's first full sync sent a piece at a time, while the start-up walk still watches
the rest of a large tree (see `source.subtrees`), and the pieces' outcome read as the one
full sync they make up (pure).

The pieces run one after another; one that fails (the node is down) ends the run, and the
full sync starts again, a piece at a time while the walk goes on. Their deletions count as
one full sync's, so the delete bound stays all or nothing across them.
"""

from __future__ import annotations

import re

from inosync.rsync.outcomes import Outcome, classify_exit
from inosync.rsync.output import bytes_sent, deletions_held_back
from inosync.source.subtrees import Piece, Splitter

# The lines each piece's rsync wrote about the deletions it held back: told once, summed
_DELETION_NOTES = re.compile(rb"^.*(Deletions stopped due to --max-delete limit|"
                             rb"cannot delete non-empty directory: |the --max-delete limit "
                             rb"stopped deletions).*\n?", re.MULTILINE)
# Worst first: what one rsync of the whole tree would have ended with
_EXIT_RANK = (23, 25, 24, 0)


class PieceRun:
    """Where one node is in the pieces of the start-up walk, and what they did so far."""

    def __init__(self) -> None:
        self.source: Splitter | None = None  # the start-up walk's, while it runs
        self.active = False
        self.taken = 0
        self.codes: set[int] = set()
        self.stderr: list[bytes] = []
        self.sent = 0
        self.held = 0
        self.seconds = 0.0

    def wanted(self) -> bool:
        """A full sync starting now goes a piece at a time: the walk is not over."""
        return self.source is not None and not self.source.done

    def begin(self) -> None:
        self.active, self.taken = True, 0
        self.codes, self.stderr = set(), []
        self.sent = self.held = 0
        self.seconds = 0.0

    def take(self) -> Piece | None:
        """The next piece, if the walk has made it."""
        if not self.can_take():
            return None
        assert self.source is not None
        self.taken += 1
        return self.source.pieces[self.taken - 1]

    def can_take(self) -> bool:
        return self.source is not None and self.taken < len(self.source.pieces)

    def ended(self, code: int, stdout: bytes, stderr: bytes, seconds: float) -> bool:
        """A piece's rsync is over; True when the run goes on (it did not fail)."""
        if classify_exit(code)[0] in (Outcome.TRANSIENT, Outcome.ERROR) or \
                code not in _EXIT_RANK:
            self.active = False
            return False
        self.codes.add(code)
        self.stderr.append(stderr)
        self.sent += bytes_sent(stdout) or 0
        self.held += deletions_held_back(stdout + b"\n" + stderr) or 0
        self.seconds += seconds
        return True

    def over(self) -> bool:
        """Every piece ran, the last one (the whole tree) included."""
        return self.source is not None and self.source.done and \
            self.taken == len(self.source.pieces)

    def as_one(self) -> tuple[int, bytes, bytes, float]:
        """The pieces' outcome as the one rsync of the whole tree would have told it: exit
        status, stdout, stderr, seconds."""
        self.active = False
        code = next(rank for rank in _EXIT_RANK if rank in self.codes or rank == 0)
        stderr = _DELETION_NOTES.sub(b"", b"".join(self.stderr))
        if self.held:
            stderr += (b"Deletions stopped due to --max-delete limit (%d skipped)\n"
                       % self.held)
        stdout = b"sent %d bytes  received 0 bytes\n" % self.sent
        return code, stdout, stderr, self.seconds
