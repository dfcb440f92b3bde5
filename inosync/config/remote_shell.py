"""Finding rsync's remote-shell option among extra options.

inosync passes its own -e (the user's rsh, hardened, on the node's shared connection); a
second -e in `extra` would silently win over it, so `config` refuses one and `migrate`
moves it into `rsh`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

# Short options whose argument may follow in the same word (-B1024, -f'- x'): a letter
# after one of these is part of the argument, not another option.
_ARGUMENT_LETTERS = "BfTM@"


def rsh_options(words: Sequence[str]) -> list[tuple[int, int, str]]:
    """Each place `words` sets the remote shell: (index, number of words, the command).

    Forms: --rsh=CMD, --rsh CMD, -e CMD, -eCMD and short clusters such as -avze CMD.
    """
    found = []
    index = 0
    while index < len(words):
        word, value, used = words[index], None, 1
        following = words[index + 1] if index + 1 < len(words) else ""
        if word.startswith("--rsh="):
            value = word[len("--rsh="):]
        elif word == "--rsh":
            value, used = following, 2
        elif word.startswith("-") and not word.startswith("--"):
            for at, letter in enumerate(word[1:], start=1):
                if letter == "e":
                    value = word[at + 1:]
                    if not value:
                        value, used = following, 2
                    break
                if letter in _ARGUMENT_LETTERS:
                    break
        if value is None:
            index += 1
            continue
        found.append((index, used, value))
        index += used
    return found


def rsh_in_extra(words: Sequence[str]) -> list[str]:
    """One problem line per remote-shell option in `extra`, saying to use `rsh` instead."""
    return [f'"{" ".join(words[at:at + used])}" sets the remote shell - remove it from extra '
            f"and write rsh = {json.dumps(value)} (inosync adds its own ssh options)"
            for at, used, value in rsh_options(words)]
