"""Options in `extra` that would make a node differ from the source are refused, with why."""

from __future__ import annotations

import pytest

from inosync.config.extra_options import refused_options
from inosync.config.load import ConfigError, validate

GOOD = {"wpath": "/srv/www", "rpath": "/srv/mirror", "rnodes": [""]}


@pytest.mark.parametrize("extra, refused", [
    ("-L", "-L"), ("-aL", "-aL (-L)"), ("-avzL", "-avzL (-L)"), ("--copy-links", "--copy-links"),
    ("--copy-dirlinks", "--copy-dirlinks"), ("-k", "-k"), ("-Hk", "-Hk (-k)"),
    ("--files-from=/tmp/x", "--files-from=/tmp/x"), ("--dry-run", "--dry-run"), ("-n", "-n"),
    ("-R", "-R"), ("--relative", "--relative"), ("--delete-excluded", "--delete-excluded"),
    ("--remove-source-files", "--remove-source-files"), ("--update", "--update"),
    ("-u", "-u"), ("--existing", "--existing"), ("--ignore-existing", "--ignore-existing"),
    ("--size-only", "--size-only"), ("--max-size=1M", "--max-size=1M"), ("--append", "--append"),
    ("--exclude=*.tmp", "--exclude=*.tmp"), ("-C", "-C"), ("-F", "-F"),
    ("--filter=- x", "--filter=- x"), ("--no-times", "--no-times"), ("-x", "-x"),
    ("-m", "-m"), ("--out-format=%n", "--out-format=%n"), ("-q", "-q"),
    ("--compare-dest=/x", "--compare-dest=/x"), ("--write-batch=b", "--write-batch=b"),
    ("--max-delete=0", "--max-delete=0"),  # every deleting sync would end in exit 25
])
def test_options_that_break_the_mirror_are_refused_with_a_reason(extra: str,
                                                                 refused: str) -> None:
    found = refused_options(extra.split(" ", 1) if " " in extra and "=" not in extra
                            else [extra])
    assert [word for word, _ in found] == [refused]
    with pytest.raises(ConfigError) as caught:
        validate(dict(GOOD, extra=extra), "f.toml", exists=lambda path: True)
    (line,) = caught.value.problems
    assert line.startswith("f.toml: extra: ") and "- remove it" in line


@pytest.mark.parametrize("extra", [
    "-H", "--numeric-ids", "--inplace", "-z", "--chmod=D755,F644", "-aHAX", "--acls",
    "--xattrs", "--compress-level=3", "-c", "--checksum", "-v", "-P", "--partial",
    "--delay-updates", "--delete-after", "--bwlimit=100", "--timeout=30", "-W",
    "--chown=www:www", "--no-perms", "--fuzzy", "--sparse", "-S", "--hard-links",
    "--backup --backup-dir=/var/backups/www", "--temp-dir=/var/tmp", "-T /var/tmp",
])
def test_options_that_are_fine_pass(extra: str) -> None:
    validate(dict(GOOD, extra=extra), "f.toml", exists=lambda path: True)


def test_the_value_of_an_option_is_not_read_as_an_option() -> None:
    assert refused_options(["-T", "-L"]) == []  # -L is -T's directory here
    assert refused_options(["--temp-dir", "-L"]) == []
    assert refused_options(["-B1024", "-L"]) == [("-L", refused_options(["-L"])[0][1])]
