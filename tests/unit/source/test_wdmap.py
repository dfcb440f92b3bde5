"""The wd -> path map: dict behaviour, and bounded size however the descriptors churn."""

from __future__ import annotations

import random

import pytest

from inosync.source.wdmap import WdMap


def test_behaves_like_a_dict_under_random_churn() -> None:
    rng = random.Random(7)
    wdmap, model = WdMap(), dict[int, str]()
    next_wd = 1
    for step in range(20_000):
        if model and rng.random() < 0.45:
            wd = rng.choice(list(model)) if step % 50 == 0 else next(iter(model))
            assert wdmap.pop(wd) == model.pop(wd)
        elif model and rng.random() < 0.1:
            wd = rng.choice(list(model))  # the same directory seen under a new name
            assert wdmap.add(wd, f"renamed{step}") == model[wd]
            model[wd] = f"renamed{step}"
        else:
            assert wdmap.add(next_wd, f"p{next_wd}") is None
            model[next_wd] = f"p{next_wd}"
            next_wd += rng.choice((1, 1, 1, 2, 50))  # mostly in order, as the kernel does
        assert len(wdmap) == len(model)
    assert dict(wdmap.items()) == model
    assert sorted(wdmap) == sorted(model)
    assert all(wdmap.get(wd) == path and wd in wdmap for wd, path in model.items())
    assert wdmap.get(next_wd) is None and next_wd not in wdmap


def test_the_dense_list_stays_within_twice_the_watches_held() -> None:
    wdmap = WdMap()
    held: list[int] = []
    for wd in range(1, 200_001):  # a tree that keeps making and removing directories
        wdmap.add(wd, "d")
        held.append(wd)
        if len(held) > 1000:
            wdmap.pop(held.pop(0))
    assert len(wdmap) == 1000
    assert len(wdmap._dense) <= 2 * (1000 + 1) + 1  # + the unused slot 0


def test_missing_keys_raise_like_a_dict() -> None:
    wdmap = WdMap()
    wdmap[1] = "a"
    assert wdmap[1] == "a"
    del wdmap[1]
    with pytest.raises(KeyError):
        wdmap[1]
    with pytest.raises(KeyError):
        del wdmap[1]
    assert wdmap.pop(1, "gone") == "gone"
