"""The watcher key: which backend watches the tree; "auto" when absent."""

from __future__ import annotations

import pytest

from inosync.config.load import ConfigError, validate

BASE = {"wpath": "/srv/www", "rpath": "/srv/www", "rnodes": ["web1:"]}


def _validate(**keys: object) -> str:
    return validate({**BASE, **keys}, "x.toml", exists=lambda path: True).watcher


@pytest.mark.parametrize("value", ["auto", "inotify", "fanotify"])
def test_each_backend_is_kept_and_absent_means_auto(value: str) -> None:
    assert _validate() == "auto"
    assert _validate(watcher=value) == value


@pytest.mark.parametrize(("value", "expected"), [
    ("fanotfy", 'x.toml: watcher: "fanotfy" is not one of auto, inotify, fanotify - "auto" '
                "uses inotify until its watch limit cannot hold the tree, then fanotify"),
    (1, "x.toml: watcher: must be a string, not int 1"),
])
def test_a_bad_value_is_one_line_naming_the_file_and_key(value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _validate(watcher=value)
    assert caught.value.problems == [expected]
