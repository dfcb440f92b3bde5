"""The watch descriptor -> path map, compact enough for a million directories.

The kernel hands out inotify watch descriptors in increasing order (1, 2, 3, ... per inotify
instance), so the watches of a start-up walk are dense: a list indexed by wd holds them with
8 bytes per entry, where a dict would spend about 70 (a hash slot plus an int object per
key). Descriptors that would leave the list less than half full go to a dict instead, so
the list never grows past twice the most watches held at once, however long the tree
churns.
"""

from __future__ import annotations

from collections.abc import Iterator


class WdMap:
    """A mapping of wd (int > 0) to path (str), with the few dict methods the watcher uses."""

    __slots__ = ("_dense", "_dense_live", "_sparse")

    def __init__(self) -> None:
        self._dense: list[str | None] = [None]  # index 0 is never a wd
        self._dense_live = 0
        self._sparse: dict[int, str] = {}

    def __len__(self) -> int:
        return self._dense_live + len(self._sparse)

    def __contains__(self, wd: int) -> bool:
        return self.get(wd) is not None

    def get(self, wd: int) -> str | None:
        if 0 < wd < len(self._dense):
            return self._dense[wd]
        return self._sparse.get(wd)

    def __getitem__(self, wd: int) -> str:
        path = self.get(wd)
        if path is None:
            raise KeyError(wd)
        return path

    def add(self, wd: int, path: str) -> str | None:
        """Map wd to path; return the path it had before (None when new)."""
        dense = self._dense
        size = len(dense)
        if 0 < wd < size:
            old = dense[wd]
            dense[wd] = path
            if old is None:
                self._dense_live += 1
            return old
        if wd == size and 2 * (self._dense_live + 1) >= size:
            dense.append(path)  # the common case: the next descriptor, list still dense
            self._dense_live += 1
            return None
        old = self._sparse.get(wd)
        self._sparse[wd] = path
        return old

    def __setitem__(self, wd: int, path: str) -> None:
        self.add(wd, path)

    def pop(self, wd: int, default: str | None = None) -> str | None:
        if 0 < wd < len(self._dense):
            old = self._dense[wd]
            if old is None:
                return default
            self._dense[wd] = None
            self._dense_live -= 1
            return old
        return self._sparse.pop(wd, default)

    def __delitem__(self, wd: int) -> None:
        if self.pop(wd) is None:
            raise KeyError(wd)

    def items(self) -> Iterator[tuple[int, str]]:
        for wd, path in enumerate(self._dense):
            if path is not None:
                yield wd, path
        yield from list(self._sparse.items())

    def __iter__(self) -> Iterator[int]:
        for wd, _ in self.items():
            yield wd
