"""What lsyncd's `delete` setting of a sync{} becomes in inosync.

lsyncd deletes on the target what is missing on the source at its start (`true`,
`"startup"`), what is deleted on the source while it runs (`true`, `"running"`), or never
(`false`). inosync always deletes what the source deletes while it runs, and a full sync (at
start, after a reload or lost events, when verification repairs drift) deletes what only
the node has within max_delete_share, all or nothing; max_delete_share = 0 makes full syncs
delete nothing. Each value becomes the nearest of these that deletes no more than lsyncd
did at start-up, with the difference said in words.
"""

from __future__ import annotations

from dataclasses import dataclass

from inosync.commands.migrate.lua import Value

_FULL_SYNCS = ("full syncs (at start, after a reload or lost events, when verification "
               "repairs drift) delete nothing on the node")
_REFUSED_STATE = ('a node that holds paths the source lacks shows "deletions refused" '
                  "(inosync status: CRITICAL) until they are removed from it or "
                  "max_delete_share is raised")


@dataclass(frozen=True)
class DeleteMapping:
    """The inosync keys one `delete` value becomes, and how the behaviour differs."""

    max_delete_share: float | None  # None: inosync's default (0.5)
    note: str = ""  # what changed: on standard output and in the written file
    # What is not kept and the user must decide about (standard error, exit status 1).
    warning: str = ""


MAPPINGS: dict[str, DeleteMapping] = {
    "true": DeleteMapping(None),
    "startup": DeleteMapping(None, (
        '"startup" became inosync\'s default: a full sync deletes on the node what the '
        "source lacks, as lsyncd did at its start, but all or nothing and only up to "
        "max_delete_share (0.5) of the node; unlike lsyncd, what is deleted on the source "
        "while inosync runs is deleted on the node at once, not at the next start")),
    "running": DeleteMapping(0, (
        '"running" became max_delete_share = 0: what is deleted on the source while '
        f"inosync runs is deleted on the node, as in lsyncd, and {_FULL_SYNCS}; unlike "
        f"lsyncd, {_REFUSED_STATE}")),
    "false": DeleteMapping(0, (
        "false became max_delete_share = 0, the nearest inosync has: "
        f"{_FULL_SYNCS}, and {_REFUSED_STATE}; but unlike lsyncd, what is deleted on "
        "the source while inosync runs (and the old name of a rename) is deleted on the "
        "node too - no inosync setting keeps it (rsync's --max-delete=0 in extra would "
        "fail every such sync)"), (
        "false is not kept: enable the file written for this sync{} only if its nodes may "
        "lose what the source deletes; to keep deleted files (an archive), leave this "
        "tree to a backup tool")),
}


def delete_mapping(value: Value) -> DeleteMapping | None:
    """What `delete = value` becomes; None for a value lsyncd itself does not take."""
    if value is None or isinstance(value, bool):
        return MAPPINGS["false" if value is False else "true"]  # nil: lsyncd's default
    if isinstance(value, str):
        return MAPPINGS.get(value) if value not in ("true", "false") else None
    return None
