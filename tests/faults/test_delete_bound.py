"""The delete bound of full syncs is all-or-nothing, across restarts and reloads."""

from __future__ import annotations

from pathlib import Path

from helpers import Daemon
from helpers.daemon import node_with_extras, write_config

from faults.support import running, wait_for

FILES = 100


def node_files(dst: Path) -> set[str]:
    return {p.name for p in dst.iterdir()}


def statuses(daemon: Daemon) -> list[str]:
    return daemon.values("STATUS")


def shrunk_source(tmp_path: Path, share: float = 0.5) -> tuple[Path, Path, Path]:
    """A node holding 100 files whose source now holds 5 of them."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    for index in range(FILES):
        (dst / f"f{index:03}").write_text(str(index))
        if index < 5:
            (src / f"f{index:03}").write_text(str(index))
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                       max_delete_share=share)
    return src, dst, cfg


def test_restarts_and_reloads_never_erode_a_node_over_the_bound(tmp_path: Path) -> None:
    src, dst, cfg = shrunk_source(tmp_path)
    for restart in range(3):
        with running(tmp_path, cfg) as daemon:
            daemon.wait_log(lambda text: text.count("deletions refused") > restart, 20,  # noqa: B023
                            "the refusal")
            daemon.wait_status(lambda s: "deletions refused" in s, 10, "refused in STATUS")
            assert len(node_files(dst)) == FILES, f"restart {restart} deleted files"
    with running(tmp_path, cfg) as daemon:
        daemon.wait_status(lambda s: "deletions refused" in s, 20, "refused in STATUS")
        for reload in range(3):
            done = daemon.log().count("full sync done")
            daemon.reload()
            daemon.wait_log(lambda text: text.count("full sync done") > done, 20,  # noqa: B023
                            f"the full sync of reload {reload}")
            assert len(node_files(dst)) == FILES, f"reload {reload} deleted files"
        assert not any(s.startswith("in sync") for s in statuses(daemon))
        (src / "f000").write_text("an edit: a narrow sync")
        wait_for(lambda: (dst / "f000").read_text() == "an edit: a narrow sync", 10, "the edit")
        daemon.wait_status(lambda s: "deletions refused" in s, 10, "still refused after it")
        assert not any(s.startswith("in sync") for s in statuses(daemon))
        assert len(node_files(dst)) == FILES
        # The operator allows it: raise the share and reload.
        write_config(cfg, wpath=str(src), rpath=str(dst), rnodes=[""], max_delete_share=1.0)
        daemon.reload()
        wait_for(lambda: node_files(dst) == node_files(src), 20, "the deletions")
        daemon.wait_in_sync(20)
        assert "deletions allowed again" in daemon.log()


def test_narrow_deletions_go_ahead_while_full_sync_deletions_are_refused(
        tmp_path: Path) -> None:
    src, dst, cfg = shrunk_source(tmp_path)
    with running(tmp_path, cfg) as daemon:
        daemon.wait_status(lambda s: "deletions refused" in s, 20, "refused in STATUS")
        (src / "f001").unlink()
        wait_for(lambda: not (dst / "f001").exists(), 10, "the narrow deletion")
        assert len(node_files(dst)) == FILES - 1


def test_deletions_resume_once_the_source_is_back_within_the_bound(tmp_path: Path) -> None:
    src, dst, cfg = shrunk_source(tmp_path)
    with running(tmp_path, cfg) as daemon:
        daemon.wait_status(lambda s: "deletions refused" in s, 20, "refused in STATUS")
        for index in range(5, FILES - 3):  # restored, all but three
            (src / f"f{index:03}").write_text(str(index))
        wait_for(lambda: len(node_files(dst)) == FILES and daemon.status.count("refused") > 0,
                 10, "the restored files")
        done = daemon.log().count("full sync done")
        daemon.reload()
        daemon.wait_log(lambda text: text.count("full sync done") > done, 20, "the full sync")
        wait_for(lambda: node_files(dst) == node_files(src), 10, "the three deletions")
        daemon.wait_in_sync(10)


def test_an_empty_looking_source_deletes_nothing(tmp_path: Path) -> None:
    src, dst, cfg = node_with_extras(tmp_path, {".keep": ""}, 20)
    with running(tmp_path, cfg) as daemon:
        daemon.wait_status(lambda s: "deletions refused" in s, 20, "refused in STATUS")
        assert len(node_files(dst)) == 21
