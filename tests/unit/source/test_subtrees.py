"""The pieces of the first sync: only finished subtrees, every directory in exactly one
piece, the whole tree last; driven by a walk over trees in memory, in the real walk's order
(a stack, each directory listed after its watch)."""

from __future__ import annotations

import random

import pytest

from inosync.changes import ROOT, is_under
from inosync.source.subtrees import TOPS_MAX, Piece, Splitter

Tree = dict[str, list[str]]  # path -> its subdirectories' paths


def walk(tree: Tree, splitter: Splitter) -> dict[int, set[str]]:
    """Walk as the watcher does; for each piece, the directories walked when it came out."""
    stack, walked, seen = [ROOT], 0, []
    walked_at: dict[int, set[str]] = {}
    while stack:
        path = stack.pop()
        walked += 1
        seen.append(path)
        depth = len(stack)
        stack.extend(tree[path])
        before = len(splitter.pieces)
        splitter.entered(path, depth, walked - 1)
        splitter.left(len(stack), walked)
        for index in range(before, len(splitter.pieces)):
            walked_at[index] = set(seen)
    return walked_at


def sent_by(piece: Piece, path: str) -> bool:
    return any(is_under(path, top) for top in piece.tops) and not any(
        is_under(path, inner) for inner in piece.inside)


def subtree(tree: Tree, top: str) -> list[str]:
    found, stack = [], [top]
    while stack:
        path = stack.pop()
        found.append(path)
        stack.extend(tree[path])
    return found


def wide(tops: int, per_top: int) -> Tree:
    tree: Tree = {ROOT: [f"p{i}" for i in range(tops)]}
    for i in range(tops):
        tree[f"p{i}"] = [f"p{i}/d{j}" for j in range(per_top)]
        tree.update({f"p{i}/d{j}": [] for j in range(per_top)})
    return tree


def random_tree(seed: int, dirs: int) -> Tree:
    rng = random.Random(seed)
    tree: Tree = {ROOT: []}
    paths = [ROOT]
    for index in range(dirs):
        parent = paths[int(len(paths) * rng.random() ** 3)]  # some deep, some wide
        path = f"{parent}/n{index}" if parent else f"n{index}"
        tree[parent].append(path)
        tree[path] = []
        paths.append(path)
    return tree


def chain(depth: int) -> Tree:
    tree: Tree = {ROOT: ["c"]}
    path = "c"
    for _ in range(depth):
        tree[path] = [path + "/c"]
        path += "/c"
    tree[path] = []
    return tree


TREES = [("wide", wide(30, 100)), ("chain", chain(500)), ("flat", wide(1, 3000)),
         *((f"random{seed}", random_tree(seed, 4000)) for seed in range(6))]


@pytest.mark.parametrize(("name", "tree"), TREES, ids=[name for name, _ in TREES])
def test_every_directory_is_sent_by_exactly_one_piece_once_it_is_watched(
        name: str, tree: Tree) -> None:
    splitter = Splitter(piece_dirs=640)
    walked_at = walk(tree, splitter)
    assert splitter.done and splitter.pieces[-1].tops == (ROOT,)
    assert all(piece.tops != (ROOT,) for piece in splitter.pieces[:-1])
    for path in tree:
        senders = [i for i, piece in enumerate(splitter.pieces) if sent_by(piece, path)]
        assert len(senders) == 1, (path, senders)
    for index, piece in enumerate(splitter.pieces[:-1]):
        assert len(piece.tops) <= TOPS_MAX
        for top in piece.tops:  # a piece holds whole subtrees, every directory watched
            assert set(subtree(tree, top)) <= walked_at[index], (index, top)


def test_a_tree_of_subtrees_large_enough_is_split_and_a_small_tree_is_not() -> None:
    big = Splitter(piece_dirs=1000)
    walk(wide(30, 100), big)  # 30 tops of 101 directories: 10 a piece
    assert [len(piece.tops) for piece in big.pieces] == [10, 10, 10, 1]
    assert len(big.pieces[-1].inside) == 30
    small = Splitter(piece_dirs=10_000)
    walk(wide(30, 100), small)
    assert small.pieces == [Piece((ROOT,), ())]


def test_a_flat_directory_is_not_cut_into_tiny_pieces() -> None:
    splitter = Splitter(piece_dirs=640)
    walk(wide(1, 3000), splitter)  # one top of 3,001 directories, each leaf alone too small
    assert splitter.pieces == [Piece(("p0",)), Piece((ROOT,), ("p0",))]


def test_a_name_no_filter_rule_can_hold_is_left_to_the_piece_above() -> None:
    tree = wide(3, 100)
    tree[ROOT].append("odd\nname")
    tree["odd\nname"] = [f"odd\nname/d{j}" for j in range(300)]
    tree.update({f"odd\nname/d{j}": [] for j in range(300)})
    splitter = Splitter(piece_dirs=200)
    walk(tree, splitter)
    assert all("odd\nname" not in piece.tops + piece.inside for piece in splitter.pieces)
    assert sent_by(splitter.pieces[-1], "odd\nname/d7")
