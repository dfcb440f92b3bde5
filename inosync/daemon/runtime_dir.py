"""The instance's runtime directory: status.json for monitoring, the private directory of
the ssh control sockets, and the lock that keeps it one instance's."""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile

log = logging.getLogger("inosync")


SOCKETS_DIR = "ssh"  # in the runtime directory, mode 0700: the ssh control sockets


def runtime_dir(name: str) -> tuple[str, bool, int | None]:
    """A directory only we can write (mode 0755: status.json is for monitoring agents to
    read, the ssh sockets are in the private sockets_dir inside), short enough for ssh
    control socket paths; whether we made it (and so remove it at exit); and the fd of the
    lock that keeps it ours.

    systemd's RuntimeDirectory= under the unit; by hand /run/inosync/NAME as root, else
    $XDG_RUNTIME_DIR/inosync/NAME (where `inosync status NAME` looks), else a private
    directory under /tmp. One left behind by a crash is taken over; one locked by a running
    instance of the same name is left to it.
    """
    given = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if given and os.path.isdir(given):
        return given, False, None
    base = "/run" if os.geteuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isdir(base):
        path = os.path.join(base, "inosync", name)
        try:
            os.makedirs(path, mode=0o755, exist_ok=True)
            lock = os.open(os.path.join(path, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                           0o600)
        except OSError:
            lock = None
        if lock is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.chmod(path, 0o755)  # one made 0700 by an older version, or a crash
                return path, True, lock
            except OSError:
                os.close(lock)
                log.warning("another inosync instance named %r runs already; keeping this "
                            "one's state in a private directory", name)
    return tempfile.mkdtemp(prefix="inosync-"), True, None


def sockets_dir(runtime: str) -> str:
    """The private directory for ssh control sockets: whoever can connect to one can run
    commands on the node as the daemon's ssh user, so only we may reach it."""
    path = os.path.join(runtime, SOCKETS_DIR)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    os.chmod(path, 0o700)  # whatever the umask, or an older run, made it
    return path
