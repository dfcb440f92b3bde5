"""Test infrastructure with real parts: sshd, rsync daemon, the inosync daemon, tree snapshots."""

from .daemon import (
    Daemon,
    inosync_argv,
    inosync_env,
    logging_rsync,
    node_with_extras,
    run_inosync,
    write_config,
)
from .fsops import (
    ODD_NAMES,
    TreeMutator,
    append,
    inotify_watches_in_use,
    make_tree,
    remove,
    sysctl,
    write,
)
from .mirror import Mirror, Node
from .servers import Rsyncd, Sshd, descendants, free_port, kill_tree, wait_port
from .tree import (
    Entry,
    Excludes,
    assert_trees_equal,
    diff_snapshots,
    holds_for,
    inodes,
    snapshot,
    stable_snapshot,
    wait_converged,
    wait_until,
)

__all__ = [
    "Daemon", "Entry", "Excludes", "Mirror", "Node", "ODD_NAMES", "Rsyncd", "Sshd",
    "TreeMutator", "append", "assert_trees_equal", "descendants", "diff_snapshots", "free_port",
    "holds_for", "inodes", "inosync_argv", "inosync_env", "inotify_watches_in_use", "kill_tree",
    "logging_rsync", "make_tree", "node_with_extras", "remove", "run_inosync", "snapshot",
    "stable_snapshot", "sysctl", "wait_converged", "wait_port", "wait_until", "write",
    "write_config"
]
