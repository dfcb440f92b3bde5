"""Guards that keep a node's data: the delete bound of full syncs, one ssh login per node."""

from __future__ import annotations

from pathlib import Path

from helpers.daemon import node_with_extras, write_config

from faults.support import local_mirror, running, wait_for, wait_ready


def test_full_sync_refuses_to_delete_most_of_a_node(tmp_path: Path) -> None:
    src, dst, cfg = node_with_extras(tmp_path, {"kept": "source"}, 30, max_delete_share=0.5)
    with running(tmp_path, cfg) as daemon:
        daemon.wait_log(lambda text: "deletions refused" in text, 20, "the delete guard")
        assert len(list(dst.glob("old*"))) == 30  # all or nothing: not even one deletion
        assert (dst / "kept").read_text() == "source"
        wait_for(lambda: any("deletions refused" in m for _, m in daemon.messages), 10,
                 "STATUS naming the refusal")
        (src / "new").write_text("incremental syncs go on")
        wait_for(lambda: (dst / "new").exists(), 10, "an incremental sync")
        daemon.assert_alive()


def test_a_share_of_one_lets_a_full_sync_delete_everything_extra(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    for index in range(10):
        (dst / f"old{index}").write_text("x")
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst), rnodes=[""],
                       max_delete_share=1.0)
    with running(tmp_path, cfg):
        wait_for(lambda: not list(dst.iterdir()), 20, "the stale files to go")


def test_ssh_node_logs_in_once_for_many_syncs(tmp_path: Path, sshd_factory) -> None:  # type: ignore[no-untyped-def]
    server = sshd_factory()
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst),
                       rnodes=[server.rnode], rsh=server.rsh)
    with running(tmp_path, cfg) as daemon:
        wait_ready(daemon, 30)
        logins_after_start = server.log.read_text().count("Accepted publickey")
        for index in range(8):
            (src / f"f{index}").write_text(str(index))
            wait_for(lambda: (dst / f"f{index}").exists(), 10, f"f{index}")  # noqa: B023
        (src / "f0").rename(src / "renamed")
        wait_for(lambda: (dst / "renamed").exists(), 10, "the rename")
        logins = server.log.read_text().count("Accepted publickey") - logins_after_start
        assert logins <= 1, f"{logins} new ssh logins for 9 syncs: the connection is not shared"


def test_a_failing_node_is_logged_once_per_state_change(tmp_path: Path) -> None:
    from helpers.servers import free_port

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "f").write_text("x")
    port = free_port()  # nothing listens there: every ssh attempt fails at once
    cfg = write_config(tmp_path / "w.toml", wpath=str(src), rpath=str(dst),
                       rnodes=["", "root@127.0.0.1:"],
                       rsh=f"ssh -p {port} -o StrictHostKeyChecking=no")
    with running(tmp_path, cfg) as daemon:
        daemon.wait_log(lambda text: "attempt 3" in text, 30, "three failed attempts")
        failures = [line for line in daemon.log().splitlines()
                    if "WARNING" in line and "root@127.0.0.1" in line]
        assert len(failures) == 1, failures
        # ssh dying before rsync starts is 255, after it started 12: the same outage
        assert ("rsync exit 255" in failures[0] or "rsync exit 12" in failures[0]) \
            and "Connection refused" in failures[0] and "retrying" in failures[0]
        assert (dst / "f").read_text() == "x"  # the local node is not held up
        status = [m for _, m in daemon.messages if m.startswith("STATUS=")][-1]
        assert "root@127.0.0.1 failing since" in status and "), retry " in status
        daemon.assert_alive()


def test_symlinked_wpath_is_watched_and_a_switched_link_is_followed(tmp_path: Path) -> None:
    releases, dst = tmp_path / "releases", tmp_path / "dst"
    (releases / "1").mkdir(parents=True)
    (releases / "1" / "index.html").write_text("release 1")
    current = tmp_path / "current"
    current.symlink_to(releases / "1")
    cfg = write_config(tmp_path / "w.toml", wpath=str(current), rpath=str(dst), rnodes=[""],
                       max_delete_share=1.0)
    with running(tmp_path, cfg, env={"WATCHDOG_USEC": "500000"}):
        wait_for(lambda: (dst / "index.html").exists(), 10, "the initial sync")
        (releases / "1" / "new.css").write_text("watched through the link")
        wait_for(lambda: (dst / "new.css").exists(), 10, "a change below the link")
        (releases / "2").mkdir()
        (releases / "2" / "index.html").write_text("release 2")
        (tmp_path / "next").symlink_to(releases / "2")
        (tmp_path / "next").rename(current)  # atomic switch, as deploy tools do
        wait_for(lambda: (dst / "index.html").read_text() == "release 2"
                 and not (dst / "new.css").exists(), 15, "the switched release")
        (releases / "2" / "after").write_text("x")
        wait_for(lambda: (dst / "after").exists(), 10, "changes in the new release")


def test_the_delete_bound_counts_the_source_as_it_is_now(tmp_path: Path) -> None:
    """Started on an empty tree that grew later: a reload's full sync may still delete."""
    src, dst, cfg = local_mirror(tmp_path)
    with running(tmp_path, cfg) as daemon:
        wait_ready(daemon, 20)
        for index in range(20):
            (src / f"f{index}").write_text(str(index))
        wait_for(lambda: len(list(dst.iterdir())) == 20, 10, "the new files")
        for index in range(5):
            (dst / f"stale{index}").write_text("drift on the node")
        daemon.reload()
        wait_for(lambda: not list(dst.glob("stale*")), 10,
                 "the reload's full sync to delete 5 stale files (20 on the source)")
        assert "stopped deleting" not in daemon.log()
