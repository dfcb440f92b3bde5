"""Which parts of the tree the first sync may send while the start-up walk still watches
the rest: subtrees the walk has finished, gathered into pieces of about `PIECE_DIRS`
directories (pure).

A directory is never synced before its watch is in: a piece holds only subtrees whose
every directory is watched already. The last piece is the whole tree once the walk is
over, leaving out what earlier pieces sent, so the pieces together are one full sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inosync.changes import ROOT

PIECE_DIRS = 25_000  # a walk of about 0.3 s on tmpfs; each piece costs one more rsync start
TOPS_MAX = 64  # subtrees of one piece; smaller ones are left to the piece above them


@dataclass(frozen=True)
class Piece:
    """One run of the first sync: `tops` (ROOT alone: the whole tree) and, below them, the
    subtrees earlier pieces sent, which this run neither sends nor deletes in."""

    tops: tuple[str, ...]
    inside: tuple[str, ...] = ()


@dataclass
class Unit:
    """A finished subtree: in a piece already (`sent`) or waiting for one."""

    path: str
    subtree: int  # its directories
    unsent: int  # those not in earlier pieces (0 once sent)
    inside: tuple[str, ...]  # earlier pieces' subtrees below it (() once sent)

    @property
    def sent(self) -> bool:
        return self.unsent == 0


@dataclass
class Splitter:
    """Fed by the walk as it finishes each directory's subtree; the pieces come out."""

    piece_dirs: int = PIECE_DIRS
    pieces: list[Piece] = field(default_factory=list)
    done: bool = False  # the walk is over and the last piece is out
    units: list[Unit] = field(default_factory=list)  # in the order the walk finished them
    # the directories the walk is in: (path, its stack's depth, walked before, units before)
    frames: list[tuple[str, int, int, int]] = field(default_factory=list)

    def entered(self, path: str, stack_depth: int, walked_before: int) -> None:
        """The walk listed `path` (its subdirectories pushed above `stack_depth`)."""
        self.frames.append((path, stack_depth, walked_before, len(self.units)))

    def left(self, stack_depth: int, walked: int) -> None:
        """The walk's stack is down to `stack_depth`: the directories whose subdirectories
        were all taken from it are finished."""
        while self.frames and stack_depth <= self.frames[-1][1]:
            path, _, before, units_at = self.frames.pop()
            self.finished(path, before, units_at, walked)

    def finished(self, path: str, walked_before: int, units_at: int, walked: int) -> None:
        """Every directory below `path` is watched now: `walked` directories so far, of
        which `walked_before` before it, when `units_at` units were finished."""
        mine = self.units[units_at:]  # finished since it began: all below it
        del self.units[units_at:]
        inside = tuple(u.path for u in mine if u.sent) + tuple(
            path for u in mine if not u.sent for path in u.inside)
        if path == ROOT:
            self.pieces.append(Piece((ROOT,), inside))
            self.done = True
            return
        subtree = walked - walked_before
        unsent = subtree - sum(u.subtree - u.unsent for u in mine)
        if unsent * TOPS_MAX < self.piece_dirs or not plain_name(path):
            self.units.extend(mine)  # too small to stand alone: left to the piece above
            return
        self.units.append(Unit(path, subtree, unsent, inside))
        if sum(u.unsent for u in self.units) >= self.piece_dirs:
            self._emit()

    def _emit(self) -> None:
        waiting = [u for u in self.units if not u.sent]
        self.pieces.append(Piece(tuple(u.path for u in waiting),
                                 tuple(path for u in waiting for path in u.inside)))
        for unit in waiting:
            unit.unsent, unit.inside = 0, ()


def plain_name(path: str) -> bool:
    """A path an rsync filter rule on the command line can name exactly: no line breaks,
    and no whitespace at its end, which a rule would not keep."""
    return "\n" not in path and "\r" not in path and path == path.rstrip()
