"""Which rsync options in `extra` would make a node differ from the source, and why.

`extra` is passed to every rsync. Most options are fine (-H, --numeric-ids, --inplace, -z,
--chmod, ...); the ones below would break the mirror or what inosync relies on, so the
config is refused with the reason. Short options may come clustered (`-aL`). Also whether
rsync writes into files in place, which decides how renames are rebuilt on a node.
"""

from __future__ import annotations

from collections.abc import Sequence

_LINKS = "would copy what symlinks point to instead of the links, so the node differs"
_FILTER = "would filter files that inosync still watches and sends - use rexcludes"
_SKIPS = "would skip changed files, so the node keeps stale copies"
_LIST = "inosync supplies the file list itself"
_OUTPUT = "inosync reads rsync's own output (counts, itemized changes)"

REFUSED_LONG: dict[str, str] = {
    "--copy-links": _LINKS,
    "--copy-dirlinks": _LINKS,
    "--copy-unsafe-links": _LINKS,
    "--safe-links": "would leave symlinks that point outside the tree off the node",
    "--delete-excluded": "would delete excluded files on the nodes",
    "--max-delete": "would fail every sync that deletes (exit 25) - use max_delete_share",
    "--remove-source-files": "would delete files on the source",
    "--files-from": _LIST,
    "--from0": _LIST,
    "--include": _FILTER,
    "--include-from": _FILTER,
    "--exclude": _FILTER,
    "--exclude-from": _FILTER,
    "--filter": _FILTER,
    "--cvs-exclude": _FILTER,
    "--existing": "would never create new files on the node",
    "--ignore-non-existing": "would never create new files on the node",
    "--ignore-existing": _SKIPS,
    "--update": _SKIPS,
    "--size-only": _SKIPS,
    "--append": _SKIPS + " (it only appends to them)",
    "--append-verify": _SKIPS + " (it only appends to them)",
    "--max-size": "would leave larger files off the node",
    "--min-size": "would leave smaller files off the node",
    "--compare-dest": "would leave files off the node that match the other directory",
    "--no-times": "would lose modification times, so same-size changes go unnoticed",
    "--no-t": "would lose modification times, so same-size changes go unnoticed",
    "--no-recursive": "would not descend into directories",
    "--no-r": "would not descend into directories",
    "--dirs": "would not descend into directories",
    "--relative": "would nest the full source path inside rpath",
    "--dry-run": "use inosync --dry-run instead",
    "--list-only": "would transfer nothing",
    "--write-batch": "would write batch files instead of syncing",
    "--only-write-batch": "would write batch files instead of syncing",
    "--read-batch": "would apply a batch file instead of the source",
    "--daemon": "is not a transfer option",
    "--server": "is not a transfer option",
    "--sender": "is not a transfer option",
    "--out-format": _OUTPUT,
    "--log-format": _OUTPUT,
    "--quiet": _OUTPUT,
    "--version": "is not a transfer option",
    "--help": "is not a transfer option",
    "--prune-empty-dirs": "would leave empty directories off the node",
    "--one-file-system": "would skip mounts below wpath that inosync still watches - use "
                         "rexcludes",
}

SHORT_NAMES: dict[str, str] = {
    "L": "--copy-links", "k": "--copy-dirlinks", "C": "--cvs-exclude", "u": "--update",
    "d": "--dirs", "R": "--relative", "n": "--dry-run", "q": "--quiet", "V": "--version",
    "F": "--filter", "m": "--prune-empty-dirs", "x": "--one-file-system",
}
# Short options that take a value: the rest of the cluster (or the next word) is it.
SHORT_WITH_VALUE = set("BeTfM@")
REFUSED_SHORT_WITH_VALUE = {"f": "--filter"}
LONG_WITH_VALUE = {"--rsh", "--filter", "--include", "--exclude", "--include-from",
                   "--exclude-from", "--files-from", "--out-format", "--log-format",
                   "--max-size", "--min-size", "--compare-dest", "--write-batch",
                   "--only-write-batch", "--read-batch", "--temp-dir", "--partial-dir",
                   "--backup-dir", "--suffix", "--chmod", "--chown", "--usermap",
                   "--groupmap", "--link-dest", "--copy-dest", "--bwlimit", "--port",
                   "--password-file", "--log-file", "--timeout", "--contimeout",
                   "--block-size", "--modify-window", "--compress-choice",
                   "--checksum-choice", "--rsync-path", "--remote-option", "--iconv",
                   "--max-delete", "--sockopts", "--address"}


def refused_options(words: Sequence[str]) -> list[tuple[str, str]]:
    """(the word as written, why it is refused) for each option that breaks mirroring."""
    refused: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.startswith("--"):
            name, has_value = word.split("=", 1)[0], "=" in word
            if name in REFUSED_LONG:
                refused.append((word, REFUSED_LONG[name]))
            if name in LONG_WITH_VALUE and not has_value:
                index += 1  # "--exclude PATTERN": the next word is the value
        elif word.startswith("-") and len(word) > 1:
            for position, letter in enumerate(word[1:], start=1):
                if letter in SHORT_WITH_VALUE:
                    if letter in REFUSED_SHORT_WITH_VALUE:
                        refused.append((word, REFUSED_LONG[REFUSED_SHORT_WITH_VALUE[letter]]))
                    if position == len(word) - 1:
                        index += 1  # "-f RULE": the next word is the value
                    break
                long_name = SHORT_NAMES.get(letter)
                if long_name and long_name in REFUSED_LONG:
                    shown = word if len(word) == 2 else f"{word} (-{letter})"
                    refused.append((shown, REFUSED_LONG[long_name]))
    return refused


# After any of these the node's rsync writes into an existing file instead of renaming a new
# one over it (--append and --append-verify, refused above, and --write-devices imply
# --inplace).
