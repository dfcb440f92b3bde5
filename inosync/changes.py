"""Pure bookkeeping of what a node still needs: dirty paths and moves to replay.

A dirty path is re-synced by rsync as a whole: a file is sent or deleted, a directory is
sent recursively with --delete inside it (so it also covers every path below it). The
dirty set therefore only keeps its topmost entries, as a trie, so a burst of 20,000 events
in one new directory collapses into that directory in O(depth) per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

ROOT = ""  # the top of the tree: a dirty ROOT means "full sync"
MAX_DIRTY_PATHS = 100_000
MAX_MOVES = 10_000


def split(relpath: str) -> list[str]:
    return relpath.split("/") if relpath else []


def join_path(parent: str, name: str) -> str:
    """`name` inside `parent` (ROOT, or an empty name, leaves the other as it is)."""
    if not parent:
        return name
    return f"{parent}/{name}" if name else parent


def is_under(path: str, top: str) -> bool:
    """Is `path` equal to `top` or below it? (ROOT contains everything.)"""
    return top == ROOT or path == top or path.startswith(top + "/")


def rebase(path: str, old_top: str, new_top: str) -> str:
    """Rewrite a path below `old_top` to the same place below `new_top`."""
    if path == old_top:
        return new_top
    rest = path[len(old_top) + 1:] if old_top else path
    return f"{new_top}/{rest}" if new_top else rest


def rebase_through(path: str, moves: Iterable[Move]) -> str:
    """Where `path` ends up after these renames, applied in order."""
    for move in moves:
        if is_under(path, move.src):
            path = rebase(path, move.src, move.dst)
    return path


class _TrieNode:
    __slots__ = ("children", "marked")

    def __init__(self) -> None:
        self.children: dict[str, _TrieNode] = {}
        self.marked = False


class PathSet:
    """A set of relative paths in which no path lies below another (an antichain)."""

    def __init__(self, paths: Iterable[str] = ()) -> None:
        self._root = _TrieNode()
        self._count = 0
        for path in paths:
            self.add(path)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def _descend(self, path: str) -> tuple[bool, _TrieNode | None]:
        """Walk `path` down the trie: whether a marked path was passed on the way (itself
        or above it), and the node where `path` ends (None when it leaves the trie)."""
        node = self._root
        if node.marked:
            return True, node
        for part in split(path):
            next_node = node.children.get(part)
            if next_node is None:
                return False, None
            if next_node.marked:
                return True, next_node
            node = next_node
        return False, node

    def covers(self, path: str) -> bool:
        """Is `path` in the set or below a path in the set? covers(ROOT): a full sync."""
        return self._descend(path)[0]

    def touches(self, path: str) -> bool:
        """Is `path` in the set, below a path in it, or above one? O(depth of `path`).

        Every node of the trie lies on the way to a marked one, so reaching the end of
        `path` without passing a mark means some path in the set lies below it.
        """
        marked, end = self._descend(path)
        return marked or (end is not None and bool(end.children))

    def add(self, path: str) -> None:
        node = self._root
        if node.marked:
            return
        for part in split(path):
            next_node = node.children.get(part)
            if next_node is None:
                next_node = node.children[part] = _TrieNode()
            elif next_node.marked:
                return
            node = next_node
        self._count -= self._count_marked(node)
        node.children = {}
        node.marked = True
        self._count += 1

    @staticmethod
    def _count_marked(node: _TrieNode) -> int:
        stack, total = [node], 0
        while stack:
            current = stack.pop()
            total += current.marked
            stack.extend(current.children.values())
        return total

    def take_below(self, top: str) -> list[str]:
        """Remove and return every path equal to or below `top`."""
        if top == ROOT:
            paths = list(self)
            self.clear()
            return paths
        parts = split(top)
        node = self._root
        parents: list[tuple[_TrieNode, str]] = []
        for part in parts:
            next_node = node.children.get(part)
            if next_node is None:
                return []
            if next_node.marked and part != parts[-1]:
                return []  # an ancestor of top is marked: nothing strictly at/below top
            parents.append((node, part))
            node = next_node
        taken = [top + ("/" + rest if rest else "") for rest in self._walk(node, "")]
        self._count -= len(taken)
        parent, part = parents[-1]
        del parent.children[part]
        for parent, part in reversed(parents[:-1]):  # prune now-empty branches
            child = parent.children[part]
            if child.children or child.marked:
                break
            del parent.children[part]
        return taken

    def clear(self) -> None:
        self._root = _TrieNode()
        self._count = 0

    def _walk(self, node: _TrieNode, prefix: str) -> Iterator[str]:
        stack = [(node, prefix)]
        while stack:
            current, path = stack.pop()
            if current.marked:
                yield path
                continue
            for name, child in current.children.items():
                stack.append((child, f"{path}/{name}" if path else name))

    def __iter__(self) -> Iterator[str]:
        return self._walk(self._root, ROOT)


@dataclass(frozen=True)
class Move:
    """A rename inside the tree, to replay on a node instead of re-sending data."""

    src: str
    dst: str
    is_dir: bool


@dataclass
class Pending:
    """What one node still needs, in the order it must be applied: moves, then dirty paths.

    Invariant: after replaying `moves` (each may fail; a failed move is turned into dirty
    src and dst), syncing `dirty` makes the node equal to the source.
    """

    dirty: PathSet = field(default_factory=PathSet)
    moves: list[Move] = field(default_factory=list)
    # Files created since the last batch was taken: no node has them under that name, so a
    # rename of one is sent instead of replayed (a hint: losing it only costs a failed mv).
    created: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.dirty) or bool(self.moves)

    def mark(self, path: str, created: bool = False) -> None:
        self.dirty.add(path)
        if created:
            self.created.add(path)
        self._bound()

    def _bound(self) -> None:
        """Keep memory bounded while a node is down for long: past a limit, one full sync
        costs less than remembering every path (Syncthing collapses the same way)."""
        if len(self.dirty) > MAX_DIRTY_PATHS or len(self.moves) > MAX_MOVES:
            self.mark_all()
        if len(self.created) > MAX_DIRTY_PATHS:
            self.created.clear()

    def mark_all(self) -> None:
        """Queue a full sync; pending moves become pointless, the full sync covers them."""
        self.moves.clear()
        self.created.clear()
        self.dirty.add(ROOT)

    @property
    def full(self) -> bool:
        return self.dirty.covers(ROOT)

    def move(self, move: Move, in_flight: Sequence[str] = ()) -> None:
        """Record a rename on the source.

        Dirty paths below the source move with it; so do paths of a batch still in flight
        (that rsync may delete them at their old place before the move is replayed).
        """
        if self.full:
            return
        if not move.is_dir and (move.src in self.created
                                or any(is_under(move.src, path) for path in in_flight)):
            # Sent, not replayed: dst goes to the node, and src stays dirty so whatever
            # holds that name there goes. Either the file was written under a temporary
            # name and renamed at once (sed -i, an editor's save, an installer): the node
            # never had src, so a mv could only fail. Or rsync is sending src (or a
            # directory above it) right now: it took src's size and mtime before it read
            # the data, and the data it reads may be the file that replaced src since
            # (sed -i.bak: src goes to dst, a new file to src). Renamed on the node, that
            # copy would carry dst's size and mtime with other data, and no quick check
            # could see it.
            self.created.discard(move.src)
            self.dirty.add(move.src)
            self.dirty.add(move.dst)
            self._bound()
            return
        if move.is_dir and any(is_under(move.src, path) for path in in_flight):
            # A batch in flight resyncs a directory holding src: what it leaves of src on
            # the node depends on when rsync read it. Whatever that was, it is renamed with
            # src below; re-checking dst then repairs it (data moves only where it must:
            # a file renamed inside it is a rename of its own, sent by the rule above).
            self.dirty.add(move.dst)
        if "/" in move.src and self.dirty.covers(move.src.rsplit("/", 1)[0]):
            # src lies in a directory that is resynced anyway (rsync deletes it there) and
            # the node may not even have it yet: send dst instead of replaying the move.
            self.dirty.add(move.dst)
            self._rebase_in_flight(move, in_flight)
            return
        moved = self.dirty.take_below(move.src)
        stale = [path for path in in_flight if is_under(path, move.src)]
        last = self.moves[-1] if self.moves else None
        if last is not None and last.dst == move.src and last.is_dir == move.is_dir \
                and not is_under(move.dst, last.src) and not is_under(last.src, move.dst):
            # a -> b then b -> c is a -> c; b may have held something the first rename
            # replaced on the source, so b is re-checked (deleted there unless recreated).
            self.moves[-1] = Move(last.src, move.dst, move.is_dir)
            self.dirty.add(move.src)
        else:
            self.moves.append(move)
        for path in moved + stale:
            self.dirty.add(rebase(path, move.src, move.dst))
        self._bound()

    def _rebase_in_flight(self, move: Move, in_flight: Iterable[str]) -> None:
        for path in in_flight:
            if is_under(path, move.src):
                self.dirty.add(rebase(path, move.src, move.dst))

    def carry(self, paths: Iterable[str]) -> None:
        """Paths the batch in flight re-checks under names that renames recorded since it
        began have changed: re-check them again, under their new names, next time."""
        if self.full:
            return
        for path in paths:
            moved = rebase_through(path, self.moves)
            if moved != path:
                self.dirty.add(moved)

    def take(self) -> tuple[list[Move], list[str]]:
        """Hand over everything for one batch and start empty."""
        moves, dirty = self.moves, list(self.dirty)
        self.moves = []
        self.dirty = PathSet()
        self.created = set()
        return moves, dirty

    def give_back(self, moves: list[Move], dirty: Iterable[str]) -> None:
        """Return a failed batch; it goes before anything that arrived meanwhile."""
        if self.full:
            return
        later_moves = self.moves
        self.moves = []
        replayed = Pending(PathSet(dirty), list(moves))
        for move in later_moves:
            replayed.move(move)
        for path in self.dirty:
            replayed.dirty.add(path)
        self.dirty, self.moves = replayed.dirty, replayed.moves


WRITE_QUIET_SECONDS = 0.5  # a file modified but not closed is synced once quiet this long
WRITE_MAX_AGE_SECONDS = 2.0  # or this long after its first unsynced write (a log held open)


class OpenWrites:
    """Files written to but not closed yet: synced on close, when quiet, or when old.

    Syncing on every IN_MODIFY would copy a growing file again and again while it is
    written (and put half-written files on the nodes); IN_CLOSE_WRITE says it is done.
    """

    def __init__(self) -> None:
        self._writes: dict[str, tuple[float, float]] = {}  # path -> (first, last) write

    def __bool__(self) -> bool:
        return bool(self._writes)

    def modified(self, path: str, now: float) -> None:
        first = self._writes.get(path, (now, now))[0]
        self._writes[path] = (first, now)

    def paths(self) -> list[str]:
        """Files written and not yet closed: changing right now."""
        return list(self._writes)

    def finished(self, path: str) -> None:
        """Closed, deleted or synced for another reason: no longer waited for."""
        self._writes.pop(path, None)

    def forget_below(self, top: str) -> None:
        for path in [p for p in self._writes if is_under(p, top)]:
            del self._writes[path]

    def rebase(self, src: str, dst: str) -> None:
        for path in [p for p in self._writes if is_under(p, src)]:
            self._writes[rebase(path, src, dst)] = self._writes.pop(path)

    def detach(self, top: str) -> dict[str, tuple[float, float]]:
        """Take the writes at or below `top` away, keyed by their place below it: the tree
        is leaving, and its old name may be taken by another at once."""
        taken = {}
        for path in [p for p in self._writes if is_under(p, top)]:
            taken[path[len(top) + 1:] if path != top else ""] = self._writes.pop(path)
        return taken

    def attach(self, top: str, writes: dict[str, tuple[float, float]]) -> None:
        """Writes taken by `detach`, back at the tree's new place."""
        for suffix, times in writes.items():
            self._writes[join_path(top, suffix)] = times

    def deadline(self) -> float | None:
        if not self._writes:
            return None
        return min(min(last + WRITE_QUIET_SECONDS, first + WRITE_MAX_AGE_SECONDS)
                   for first, last in self._writes.values())

    def due(self, now: float) -> list[str]:
        ready = [path for path, (first, last) in self._writes.items()
                 if now - last >= WRITE_QUIET_SECONDS or now - first >= WRITE_MAX_AGE_SECONDS]
        for path in ready:
            del self._writes[path]
        return ready

    def clear(self) -> None:
        self._writes.clear()
