"""The max_parallel key: a bound on rsyncs running at once, 0 (or absent) for twice the cores."""

from __future__ import annotations

import pytest

from inosync.config import ConfigError, validate

BASE = {"wpath": "/srv/www", "rpath": "/srv/www", "rnodes": ["web1:", "web2:"]}


def _validate(**keys: object) -> int:
    return validate({**BASE, **keys}, "x.toml", exists=lambda path: True).max_parallel


def test_absent_means_twice_the_cores_later_and_a_number_is_kept() -> None:
    assert _validate() == 0
    assert _validate(max_parallel=3) == 3


@pytest.mark.parametrize("value, expected", [
    (-1, "x.toml: max_parallel: -1 is negative - use 0 for twice the CPU cores"),
    ("4", "x.toml: max_parallel: must be a whole number (0 = twice the CPU cores), not str '4'"),
    (1.5, "x.toml: max_parallel: must be a whole number (0 = twice the CPU cores), not float"),
])
def test_bad_values_are_named(value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _validate(max_parallel=value)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems
