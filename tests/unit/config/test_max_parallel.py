"""The max_parallel key: a bound on rsyncs running at once; 0 or absent: four per core."""

from __future__ import annotations

import pytest

from inosync.config.load import ConfigError, validate

BASE = {"wpath": "/srv/www", "rpath": "/srv/www", "rnodes": ["web1:", "web2:"]}


def _validate(**keys: object) -> int:
    return validate({**BASE, **keys}, "x.toml", exists=lambda path: True).max_parallel


def test_absent_means_four_times_the_cores_later_and_a_number_is_kept() -> None:
    assert _validate() == 0
    assert _validate(max_parallel=3) == 3


WRONG_TYPE = "x.toml: max_parallel: must be a whole number (0 = four times the CPU cores), not"


@pytest.mark.parametrize("value, expected", [
    (-1, "x.toml: max_parallel: -1 is negative - use 0 for four times the CPU cores"),
    ("4", f"{WRONG_TYPE} str '4'"),
    (1.5, f"{WRONG_TYPE} float"),
])
def test_bad_values_are_named(value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _validate(max_parallel=value)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems
