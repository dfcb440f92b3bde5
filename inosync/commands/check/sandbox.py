"""What the service's sandbox does to a config that runs fine by hand.

inosync@.service runs with PrivateTmp=yes (its own, empty /tmp and /var/tmp) and
ProtectSystem=full (/usr, /boot, /efi and /etc read-only). A wpath under /tmp is then an
empty directory to the daemon, and a local node's rpath under /etc cannot be written.
`inosync check` warns about each, naming the setting and the drop-in that changes it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

PRIVATE_TMP_DIRS = ("/tmp", "/var/tmp")
# systemd.exec(5), ProtectSystem=: what each value mounts read-only.
READ_ONLY_UNDER = {
    "no": (),
    "yes": ("/usr", "/boot", "/efi"),
    "full": ("/usr", "/boot", "/efi", "/etc"),
    "strict": ("/",),
}
STRICT_WRITABLE = ("/dev", "/proc", "/sys")


@dataclass(frozen=True)
class Sandbox:
    """The unit settings that decide which paths the daemon sees and may write."""

    private_tmp: bool
    protect_system: str  # "no", "yes", "full" or "strict"
    read_write_paths: tuple[str, ...] = ()


SHIPPED = Sandbox(private_tmp=True, protect_system="full")


def parse_show(text: str) -> Sandbox | None:
    """The sandbox from `systemctl show -p LoadState,PrivateTmp,ProtectSystem,ReadWritePaths`;
    None unless the unit is loaded (then the shipped unit is what will run)."""
    values = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)
    if values.get("LoadState") != "loaded":
        return None
    protect = values.get("ProtectSystem", "no")
    protect = {"true": "yes", "false": "no"}.get(protect, protect)
    writable = tuple(word.lstrip("-+") for word in values.get("ReadWritePaths", "").split())
    return Sandbox(values.get("PrivateTmp") in ("yes", "true"), protect, writable)


def is_under(path: str, top: str) -> bool:
    path, top = os.path.normpath(path), os.path.normpath(top)
    return top == "/" or path == top or path.startswith(top + "/")


def _tmp_dir(path: str) -> str:
    return next((top for top in PRIVATE_TMP_DIRS if is_under(path, top)), "")


def _read_only_top(path: str, sandbox: Sandbox) -> str:
    if any(is_under(path, writable) for writable in sandbox.read_write_paths):
        return ""
    if sandbox.protect_system == "strict" and any(is_under(path, top)
                                                  for top in STRICT_WRITABLE):
        return ""
    return next((top for top in READ_ONLY_UNDER.get(sandbox.protect_system, ())
                 if is_under(path, top)), "")


def sandbox_warnings(instance: str, wpaths: Sequence[str], local_rpaths: Sequence[str],
                     sandbox: Sandbox = SHIPPED) -> list[str]:
    """One line per path the unit's sandbox hides or makes read-only.

    `wpaths` and `local_rpaths` hold each path as written and as its symlinks resolve
    (the sandbox applies to where a path really is).
    """
    unit, edit = f"inosync@{instance}", f"systemctl edit inosync@{instance}"
    dropin = f"/etc/systemd/system/inosync@{instance}.service.d/override.conf"
    warnings: list[str] = []
    for path in dict.fromkeys(wpaths):
        if sandbox.private_tmp and (top := _tmp_dir(path)):
            warnings.append(
                f"wpath {path} is under {top}, which {unit} does not see: the unit's "
                f"PrivateTmp=yes gives it an empty {top} of its own - move wpath out of /tmp "
                f"and /var/tmp, or set PrivateTmp=no under [Service] in a drop-in ({edit} "
                f"writes {dropin})")
    for path in dict.fromkeys(local_rpaths):
        if sandbox.private_tmp and (top := _tmp_dir(path)):
            warnings.append(
                f"rpath {path} of the local node is under {top}: with the unit's "
                f"PrivateTmp=yes {unit} writes into an {top} of its own that nothing else "
                f"sees and that is removed when it stops - move rpath, or set PrivateTmp=no "
                f"under [Service] in a drop-in ({edit} writes {dropin})")
        elif top := _read_only_top(path, sandbox):
            where = "the whole file system" if top == "/" else top
            warnings.append(
                f"rpath {path} of the local node is read-only to {unit}: the unit's "
                f"ProtectSystem={sandbox.protect_system} mounts {where} read-only - add "
                f"ReadWritePaths={path} under [Service] in a drop-in ({edit} writes {dropin})")
    return warnings
