"""Small file-system actions on bytes paths, and a seeded random mutator of a tree."""

from __future__ import annotations

import glob
import os
import random
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager

# Names the mirror must carry unharmed (rsync comment chars and option-like names at the start).
ODD_NAMES: list[bytes] = [
    b"with space",
    b"new\nline",
    b"50%off.pdf",
    b"#hash",
    b";semicolon",
    b"star*",
    b"-leading-dash",
    b"\xff\xfe.bin",
    b"quote'\"s",
    b"back\\slash",
    b"tab\there",
    b"[brackets]?",
    b"$(echo no)",
    b"--delete",
    b" leading space",
    b"trailing space ",
    b"\xc3\xa9t\xc3\xa9",
]


def write(path: bytes | str, data: bytes = b"x", mode: int | None = None) -> None:
    p = os.fsencode(path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(p, mode)


def append(path: bytes | str, data: bytes) -> None:
    with open(os.fsencode(path), "ab") as f:
        f.write(data)


def remove(path: bytes | str) -> None:
    p = os.fsencode(path)
    if os.path.isdir(p) and not os.path.islink(p):
        shutil.rmtree(p)
    else:
        os.unlink(p)


def make_tree(root: bytes | str, dirs: int, files_per_dir: int, size: int = 100,
              depth: int = 2, seed: int = 0) -> int:
    """A deterministic tree: `dirs` directories spread over `depth` levels; returns file count."""
    rng = random.Random(seed)
    top = os.fsencode(root)
    count = 0
    for d in range(dirs):
        parts = [b"d%d" % (d % 7)] if depth > 1 else []
        parts += [b"sub%d" % d]
        path = os.path.join(top, *parts)
        os.makedirs(path, exist_ok=True)
        for f in range(files_per_dir):
            with open(os.path.join(path, b"f%d.dat" % f), "wb") as fh:
                fh.write(rng.randbytes(size))
            count += 1
    return count


@contextmanager
def sysctl(path: str, value: str) -> Iterator[str]:
    """Set a /proc/sys value for the duration of the block; always restore the old one."""
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write(value)
    try:
        yield old
    finally:
        with open(path, "w") as f:
            f.write(old)


class TreeMutator:
    """Applies a seeded sequence of random operations to `root`, like users and programs do.

    `outside` is a scratch dir on the same file system for moves into and out of the tree.
    Every choice comes from `rng` over sorted listings, so a seed replays the same sequence.
    """

    FILE_MODES = (0o644, 0o600, 0o755, 0o640, 0o444, 0o664)
    DIR_MODES = (0o755, 0o750, 0o700, 0o775)
    MAX_ENTRIES = 250
    MAX_DEPTH = 5

    def __init__(self, root: bytes | str, outside: bytes | str, rng: random.Random) -> None:
        self.root = os.fsencode(root)
        self.outside = os.fsencode(outside)
        os.makedirs(self.outside, exist_ok=True)
        self.rng = rng
        self.counter = 0
        self.history: list[str] = []

    # ---- state ----

    def _scan(self) -> tuple[list[bytes], list[bytes], list[bytes]]:
        files, dirs, links = [], [b""], []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            rel = b"" if rel == b"." else rel
            for n in dirnames + filenames:
                p = os.path.join(rel, n) if rel else n
                st = os.lstat(os.path.join(self.root, p))
                if stat.S_ISLNK(st.st_mode):
                    links.append(p)
                elif stat.S_ISDIR(st.st_mode):
                    dirs.append(p)
                else:
                    files.append(p)
        return sorted(files), sorted(dirs), sorted(links)

    def _name(self) -> bytes:
        self.counter += 1
        if self.rng.random() < 0.35:
            return self.rng.choice(ODD_NAMES) + b"%d" % self.counter
        return b"n%d" % self.counter

    def _data(self) -> bytes:
        size = self.rng.choice((0, 1, 17, 100, 1000, 4096, 5000, 20000))
        if self.rng.random() < 0.03:
            size = 300_000
        return self.rng.randbytes(size)

    def _abs(self, rel: bytes) -> bytes:
        return os.path.join(self.root, rel) if rel else self.root

    def _depth(self, rel: bytes) -> int:
        return 0 if not rel else rel.count(b"/") + 1

    def _parent(self, dirs: list[bytes]) -> bytes:
        shallow = [d for d in dirs if self._depth(d) < self.MAX_DEPTH]
        return self.rng.choice(shallow)

    # ---- operations ----

    def step(self) -> str:
        files, dirs, links = self._scan()
        total = len(files) + len(dirs) + len(links)
        ops = [
            ("create", 14), ("append", 8), ("truncate", 4), ("chmod", 5), ("delete", 6),
            ("rmtree", 2), ("mkdir_write", 7), ("rename_file", 8), ("rename_dir", 5),
            ("file_to_dir", 2), ("dir_to_file", 2), ("symlink", 5), ("move_out", 3),
            ("move_in", 3), ("overwrite_rename", 3), ("swap_dir", 3), ("move_out_mkdir", 3),
            ("rename_over_moved", 3),
        ]
        if total > self.MAX_ENTRIES:
            ops = [("delete", 5), ("rmtree", 5), ("move_out", 3), ("rename_dir", 2)]
        names, weights = zip(*ops)
        op = self.rng.choices(names, weights)[0]
        desc = getattr(self, "op_" + op)(files, dirs[1:], dirs, links) or f"{op}: skipped"
        self.history.append(desc)
        return desc

    def op_create(self, files, subdirs, dirs, links) -> str:
        p = os.path.join(self._parent(dirs), self._name()).lstrip(b"/")
        write(self._abs(p), self._data())
        return f"create {p!r}"

    def op_append(self, files, subdirs, dirs, links) -> str | None:
        if not files:
            return None
        p = self.rng.choice(files)
        append(self._abs(p), self._data()[:5000] or b"a")
        return f"append {p!r}"

    def op_truncate(self, files, subdirs, dirs, links) -> str | None:
        if not files:
            return None
        p = self.rng.choice(files)
        size = os.path.getsize(self._abs(p))
        os.truncate(self._abs(p), self.rng.randint(0, size) if size else 0)
        return f"truncate {p!r}"

    def op_chmod(self, files, subdirs, dirs, links) -> str | None:
        if subdirs and self.rng.random() < 0.3:
            p = self.rng.choice(subdirs)
            mode = self.rng.choice(self.DIR_MODES)
        elif files:
            p = self.rng.choice(files)
            mode = self.rng.choice(self.FILE_MODES)
        else:
            return None
        os.chmod(self._abs(p), mode)
        return f"chmod {oct(mode)} {p!r}"

    def op_delete(self, files, subdirs, dirs, links) -> str | None:
        cands = files + links
        if not cands:
            return None
        p = self.rng.choice(cands)
        os.unlink(self._abs(p))
        return f"delete {p!r}"

    def op_rmtree(self, files, subdirs, dirs, links) -> str | None:
        if not subdirs:
            return None
        p = self.rng.choice(subdirs)
        shutil.rmtree(self._abs(p))
        return f"rmtree {p!r}"

    def op_mkdir_write(self, files, subdirs, dirs, links) -> str:
        base = self._parent(dirs)
        parts = [self._name() for _ in range(self.rng.randint(1, 3))]
        d = os.path.join(base, *parts).lstrip(b"/")
        os.makedirs(self._abs(d))
        for _ in range(self.rng.randint(1, 4)):
            write(os.path.join(self._abs(d), self._name()), self._data())
        return f"mkdir -p + write {d!r}"

    def op_rename_file(self, files, subdirs, dirs, links) -> str | None:
        cands = files + links
        if not cands:
            return None
        p = self.rng.choice(cands)
        q = os.path.join(self._parent(dirs), self._name()).lstrip(b"/")
        os.rename(self._abs(p), self._abs(q))
        return f"rename {p!r} -> {q!r}"

    def op_overwrite_rename(self, files, subdirs, dirs, links) -> str | None:
        """Rename a file over another one (an editor's atomic save)."""
        if len(files) < 2:
            return None
        p, q = self.rng.sample(files, 2)
        os.rename(self._abs(p), self._abs(q))
        return f"rename over {p!r} -> {q!r}"

    def op_rename_dir(self, files, subdirs, dirs, links) -> str | None:
        if not subdirs:
            return None
        p = self.rng.choice(subdirs)
        targets = [d for d in dirs
                   if d != p and not d.startswith(p + b"/") and self._depth(d) < self.MAX_DEPTH]
        q = os.path.join(self.rng.choice(targets), self._name()).lstrip(b"/")
        os.rename(self._abs(p), self._abs(q))
        return f"rename dir {p!r} -> {q!r}"

    def op_file_to_dir(self, files, subdirs, dirs, links) -> str | None:
        if not files:
            return None
        p = self.rng.choice(files)
        os.unlink(self._abs(p))
        os.mkdir(self._abs(p))
        write(os.path.join(self._abs(p), self._name()), self._data())
        return f"file -> dir {p!r}"

    def op_dir_to_file(self, files, subdirs, dirs, links) -> str | None:
        if not subdirs:
            return None
        p = self.rng.choice(subdirs)
        shutil.rmtree(self._abs(p))
        write(self._abs(p), self._data())
        return f"dir -> file {p!r}"

    def op_symlink(self, files, subdirs, dirs, links) -> str:
        parent = self._parent(dirs)
        p = os.path.join(parent, self._name()).lstrip(b"/")
        kind = self.rng.choice(("file", "dir", "dangling", "absolute"))
        if kind == "file" and files:
            target = os.path.relpath(self.rng.choice(files), parent or b".")
        elif kind == "dir" and subdirs:
            target = os.path.relpath(self.rng.choice(subdirs), parent or b".")
        elif kind == "absolute":
            target = b"/nonexistent/" + self._name()
        else:
            target = b"dangling-" + self._name()
        os.symlink(target, self._abs(p))
        return f"symlink {p!r} -> {target!r}"

    def op_move_out(self, files, subdirs, dirs, links) -> str | None:
        cands = files + subdirs
        if not cands:
            return None
        p = self.rng.choice(cands)
        os.rename(self._abs(p), os.path.join(self.outside, self._name()))
        return f"move out {p!r}"

    def op_move_in(self, files, subdirs, dirs, links) -> str:
        staged = os.path.join(self.outside, self._name())
        if self.rng.random() < 0.5:
            write(staged, self._data())
        else:
            os.makedirs(os.path.join(staged, b"inner"))
            write(os.path.join(staged, b"inner", self._name()), self._data())
            write(os.path.join(staged, self._name()), self._data())
        q = os.path.join(self._parent(dirs), self._name()).lstrip(b"/")
        os.rename(staged, self._abs(q))
        return f"move in {q!r}"

    # ---- names reused at once, then written below after 0-100 ms ----

    def _soon(self) -> float:
        delay = self.rng.choice((0.0, 0.0, self.rng.uniform(0, 0.1)))
        time.sleep(delay)
        return delay

    def op_swap_dir(self, files, subdirs, dirs, links) -> str | None:
        """A deploy's swap: the directory moves out, another moves in under its name."""
        if not subdirs:
            return None
        p = self.rng.choice(subdirs)
        staged = os.path.join(self.outside, self._name())
        write(os.path.join(staged, b"inner", self._name()), self._data())
        os.rename(self._abs(p), os.path.join(self.outside, self._name()))
        os.rename(staged, self._abs(p))
        delay = self._soon()
        write(os.path.join(self._abs(p), b"inner", self._name()), self._data())
        return f"swap dir {p!r}, write below it after {delay * 1000:.0f} ms"

    def op_move_out_mkdir(self, files, subdirs, dirs, links) -> str | None:
        if not subdirs:
            return None
        p = self.rng.choice(subdirs)
        os.rename(self._abs(p), os.path.join(self.outside, self._name()))
        os.mkdir(self._abs(p))
        delay = self._soon()
        write(os.path.join(self._abs(p), self._name()), self._data())
        return f"mv {p!r} out && mkdir it, write below it after {delay * 1000:.0f} ms"

    def op_rename_over_moved(self, files, subdirs, dirs, links) -> str | None:
        """A file moved away, another renamed into its name at once, then written."""
        if len(files) < 2:
            return None
        p, q = self.rng.sample(files, 2)
        os.rename(self._abs(p), os.path.join(self.outside, self._name()))
        os.rename(self._abs(q), self._abs(p))
        delay = self._soon()
        append(self._abs(p), self._data()[:5000] or b"a")
        return f"mv {p!r} out, {q!r} -> {p!r}, append after {delay * 1000:.0f} ms"

    def run(self, steps: int, pause: float = 0.0, pause_chance: float = 0.0) -> None:
        for _ in range(steps):
            self.step()
            if pause and self.rng.random() < pause_chance:
                time.sleep(self.rng.uniform(0, pause))


def inotify_watches_in_use() -> int:
    """Watches every inotify instance on this machine holds now (a limit set just above
    this is reached after a few more)."""
    count = 0
    for path in glob.glob("/proc/[0-9]*/fdinfo/*"):
        try:
            with open(path) as f:
                count += f.read().count("inotify wd:")
        except OSError:
            pass
    return count
