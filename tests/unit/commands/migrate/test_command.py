"""What `inosync migrate` writes: TOML that reads back to the same keys, never over a file."""

from __future__ import annotations

import sys
from pathlib import Path

from inosync.commands.migrate.command import render, write_new
from inosync.commands.migrate.model import Instance, Note
from inosync.config.load import validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_rendered_toml_reads_back_to_the_same_keys_and_validates() -> None:
    keys = {"wpath": "/srv/wéb \"quoted\"", "rpath": "/srv/back\\slash\tx\x7f",
            "rnodes": ["", "u@h:"], "rexcludes": ["*.tmp", "#hash", "a'b"], "rspeed": 500,
            "extra": "--chmod='u+rw'"}
    notes = (Note(3, "edelay", "dropped - a reason\nwith a newline\x1b"),)
    text = render(Instance("www", "wpath /srv/www", keys, notes), "/etc/inosync/www.py",
                  "/etc/inosync/www.toml")
    assert tomllib.loads(text) == keys
    assert "# www.py:3: edelay: dropped - a reason?with a newline?" in text
    assert "inosync check -c /etc/inosync/www.toml" in text
    validate(tomllib.loads(text), "www.toml", exists=lambda path: True)


def test_write_new_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "www.toml"
    assert write_new(str(target), "a = 1\n")
    assert not write_new(str(target), "a = 2\n")
    assert target.read_text() == "a = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["www.toml"]
