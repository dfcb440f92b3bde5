"""Which instances there are: configured (a DIR/NAME.toml), enabled (systemd would start
inosync@NAME) and running (a live daemon's state file), as `inosync status` and
`inosync list` read them.

An instance that is configured or enabled but not running is a fact a monitoring check must
see: it is read from the config directory and systemd's .wants links, never only from what
happens to be running.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from inosync.report.state_files import STATE_FILE_NAME

CONFIG_DIR_VARIABLE = "INOSYNC_CONFIG_DIR"  # where NAME.toml files are, for tests and staging
UNIT_DIR_VARIABLE = "INOSYNC_UNIT_DIR"  # systemd's /etc/systemd/system, likewise
UNIT_NAME = re.compile(r"^inosync@(.+)\.service$")


def config_dir() -> str:
    return os.environ.get(CONFIG_DIR_VARIABLE) or "/etc/inosync"


def unit_dir() -> str:
    return os.environ.get(UNIT_DIR_VARIABLE) or "/etc/systemd/system"


def runtime_bases() -> list[str]:
    """Where instances keep their state: /run/inosync, and $XDG_RUNTIME_DIR/inosync."""
    bases = ["/run/inosync"]
    if xdg := os.environ.get("XDG_RUNTIME_DIR"):
        bases.append(os.path.join(xdg, "inosync"))
    return bases


def configured(directory: str) -> dict[str, str]:
    """Instance name -> config file, for every DIR/NAME.toml (none if DIR does not exist;
    PermissionError if it cannot be listed: then what is configured is not known)."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return {}
    return {name[:-5]: os.path.join(directory, name) for name in names
            if name.endswith(".toml") and len(name) > 5}


def enabled_names(links: Iterable[str]) -> list[str]:
    """The instances enabled, from the paths of the links in systemd's *.wants/ dirs."""
    names = {m.group(1) for path in links if (m := UNIT_NAME.match(os.path.basename(path)))}
    return sorted(names)


def enabled(directory: str) -> list[str]:
    return enabled_names(glob.glob(os.path.join(glob.escape(directory), "*.wants",
                                                "inosync@*.service")))


def running(bases: Sequence[str]) -> dict[str, list[str]]:
    """Instance name -> its state files, for every state file under the bases."""
    found: dict[str, list[str]] = {}
    for base in bases:
        for path in sorted(glob.glob(os.path.join(glob.escape(base), "*", STATE_FILE_NAME))):
            found.setdefault(os.path.basename(os.path.dirname(path)), []).append(path)
    return found


def state_paths(name: str, bases: Sequence[str]) -> list[str]:
    return [os.path.join(base, name, STATE_FILE_NAME) for base in bases]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, e.g. root's daemon seen by a monitor
        return True
    return pid > 0


def read_state(paths: Sequence[str]) -> tuple[dict[str, Any] | None, str]:
    """The state of a running instance, or None and why not."""
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            continue
        except PermissionError:
            return None, (f"cannot read {path} (permission denied) - its directory must be "
                          "0755 (RuntimeDirectoryMode=0755 in the unit)")
        except (OSError, ValueError) as error:
            return None, f"cannot read {path} ({error})"
        if not isinstance(state, dict) or not _alive(int(state.get("pid", 0))):
            return None, f"not running (stale {path})"
        return state, ""
    return None, f"not running (no {' or '.join(paths)})"


@dataclass(frozen=True)
class Found:
    """One instance as the system knows it."""

    name: str
    config: str = ""  # DIR/NAME.toml, "" if there is none
    enabled: bool = False
    named: bool = False  # asked for by name on the command line
    state: dict[str, Any] | None = None  # the live state file, None when not running
    why: str = ""  # why there is no state

    @property
    def expected(self) -> bool:
        """Should be running: configured, enabled or asked for."""
        return bool(self.config) or self.enabled or self.named


def discover(names: Sequence[str], directory: str, units: str,
             bases: Sequence[str]) -> tuple[list[Found], list[str]]:
    """The instances named, or, when none is, every configured, enabled or running one;
    and what could not be looked at (a check must not pass by not seeing)."""
    problems = []
    try:
        configs = configured(directory)
    except OSError as error:
        configs = {}
        problems.append(f"cannot list {directory} ({error.strerror}) - the configured "
                        "instances are unknown: let this user read it, or name instances")
    on = set(enabled(units))
    if names:
        wanted = list(dict.fromkeys(names))
        paths = {name: state_paths(name, bases) for name in wanted}
    else:
        paths = running(bases)
        wanted = sorted(set(configs) | on | set(paths))
    found = []
    for name in wanted:
        state, why = read_state(paths.get(name) or state_paths(name, bases))
        found.append(Found(name, configs.get(name, ""), name in on, bool(names), state, why))
    return found, problems if not names else []


def add_config_dir_option(parser: argparse.ArgumentParser) -> None:
    """--config-dir, as `status` and `list` both take it."""
    parser.add_argument("--config-dir", default=config_dir(), metavar="DIR",
                        help=f"where NAME.toml files are (default ${CONFIG_DIR_VARIABLE} or "
                        "/etc/inosync)")
