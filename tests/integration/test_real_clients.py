"""Real programs change the source (tar, rsync, git, ln + mv, sed); every node kind converges.

Each test runs one daemon with a local node, an ssh node and an rsync daemon node, lets the
client do what it does in production, and compares whole trees (content, modes, file
mtimes, symlink targets, file types) with a deadline.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import ODD_NAMES, Daemon, Mirror, Rsyncd, Sshd, make_tree, write
from helpers.clients import converged, every_kind_mirror, require, run


@pytest.fixture
def mirror3(tmp_path: Path, sshd_factory: Callable[..., Sshd], rsyncd: Rsyncd,
            daemons: list[Daemon]) -> Mirror:
    """A local, an ssh and an rsync daemon node; started by the test (`.start()`)."""
    return every_kind_mirror(tmp_path, sshd_factory, rsyncd, daemons)


# ---- tar ----


def archive_tree(root: Path, version: int) -> int:
    """A package-like tree of a few thousand files: nested dirs, odd names, symlinks, hard
    links, assorted modes; `version` 2 changes part of it the way a new release does.
    Returns the number of regular files."""
    rng = random.Random(version)
    top = os.fsencode(root)
    files = 0
    for d in range(60):
        here = os.path.join(top, b"lib", b"pkg%d" % (d % 6), b"mod%d" % d)
        for f in range(40):
            if version == 2 and f != 3 and (d * 40 + f) % 9 == 0:
                continue  # tar never deletes: these stay as version 1 left them
            size = rng.choice((0, 10, 300, 4000))
            write(os.path.join(here, b"f%d.py" % f), rng.randbytes(size),
                  mode=rng.choice((0o644, 0o600, 0o755, 0o444)))
            files += 1
        if d % 10 == 0:
            os.chmod(here, 0o750 if version == 1 else 0o700)
    odd = os.path.join(top, b"odd")
    for i, name in enumerate(ODD_NAMES):
        write(os.path.join(odd, name), b"%d %d" % (version, i))
        write(os.path.join(odd, b"dir " + name, name), b"v%d" % version)
        files += 2
    links = os.path.join(top, b"links")
    os.makedirs(links)
    os.symlink(b"../lib/pkg0/mod0/f1.py", os.path.join(links, b"relative"))
    os.symlink(b"/etc/hostname", os.path.join(links, b"absolute"))
    os.symlink(b"does/not/exist" if version == 1 else b"now/elsewhere",
               os.path.join(links, b"dangling"))
    os.symlink(b"../lib/pkg1", os.path.join(links, b"dir link"))
    os.symlink(os.path.join(b"..", b"odd", ODD_NAMES[1]), os.path.join(links, ODD_NAMES[1]))
    for i in range(20):
        os.link(os.path.join(top, b"lib/pkg%d/mod%d/f3.py" % (i % 6, i)),
                os.path.join(links, b"hard%d" % i))
    # What a new release changes in kind: a file becomes a dir, a dir a file, a link a file.
    swap = os.path.join(top, b"swap")
    if version == 1:
        write(os.path.join(swap, b"was-file"), b"file")
        write(os.path.join(swap, b"was-dir", b"inside"), b"inside")
        os.symlink(b"was-file", os.path.join(swap, b"was-link"))
        files += 2
    else:
        write(os.path.join(swap, b"was-file", b"now-inside"), b"dir now")
        write(os.path.join(swap, b"was-dir"), b"file now")
        write(os.path.join(swap, b"was-link"), b"file now")
        write(os.path.join(top, b"new in 2", b"-n"), b"new")
        files += 4
        # links that appear in directories which exist already: no write event for them
        os.symlink(b"../odd", os.path.join(links, b"added link"))
        os.link(os.path.join(top, b"lib/pkg1/mod1/f2.py"), os.path.join(links, b"added hard"))
        os.symlink(b"f1.py", os.path.join(top, b"lib/pkg0/mod0/%#link"))
    return files


def update_tree(root: Path) -> list[bytes]:
    """An update archive's content: changed files, new links and a hard link pair, all in
    directories that exist already. Returns the members (no directories among them)."""
    top = os.fsencode(root)
    members = []
    for i, name in enumerate(ODD_NAMES):
        members.append(os.path.join(b"odd", name))
        write(os.path.join(top, members[-1]), b"update %d" % i)
    for name in (b"#top", b";top", b"-top", b"new\ntop"):  # rsync's comment characters
        members.append(name)
        write(os.path.join(top, name), b"at the top")
    members += [b"lib/pkg2/mod2/f5.py", b"links/hard pair", b"links/%new link", b"links/#new"]
    write(os.path.join(top, members[-4]), b"patched")
    os.makedirs(os.path.join(top, b"links"))
    os.link(os.path.join(top, members[-4]), os.path.join(top, members[-3]))
    os.symlink(b"../odd", os.path.join(top, members[-2]))
    os.symlink(ODD_NAMES[0], os.path.join(top, members[-1]))
    return members


def test_tar_extracted_into_wpath_then_again_over_itself_with_changes(mirror3, tmp_path) -> None:
    m = mirror3
    tar = require("tar")
    require("xz")
    balls = []
    for version in (1, 2):
        staging = tmp_path / f"staging{version}"
        count = archive_tree(staging, version)
        ball = tmp_path / f"release{version}.tar.xz"
        run([tar, "-cJf", ball, "-C", staging, "."])
        balls.append((ball, count))
    write(m.src / "README", b"before the archive")
    m.start()
    converged(m, "the start-up sync")
    run([tar, "-xJf", balls[0][0], "-C", m.src])
    converged(m, f"tar -x of {balls[0][1]} files")
    # Over itself: files overwritten (tar unlinks first), kinds swapped (a dir replaced by
    # a file needs --recursive-unlink), modes and mtimes restored from the archive.
    run([tar, "--recursive-unlink", "-xJf", balls[1][0], "-C", m.src])
    converged(m, f"a second tar -x of {balls[1][1]} changed files over the first")
    # An update archive of files only: no directory entries, so tar touches no directory
    # and each file must be mirrored on its own events.
    members = update_tree(tmp_path / "update")
    (tmp_path / "members").write_bytes(b"".join(b"./" + p + b"\0" for p in members))
    run([tar, "-cf", tmp_path / "update.tar", "-C", tmp_path / "update", "--no-recursion",
         "--null", "-T", tmp_path / "members"])
    run([tar, "-xf", tmp_path / "update.tar", "-C", m.src])
    converged(m, f"an update archive of {len(members)} files into existing directories")


# ---- rsync as a deploy tool ----


def site_tree(root: Path, version: int) -> None:
    """A web site of ~400 files; each version edits, adds, deletes and renames some."""
    rng = random.Random(100 + version)
    for d in range(20):
        section = "docs" if d < 10 else "assets"
        # version 3 renames a section: its files arrive under a new name
        name = f"s{d}" if not (version >= 3 and d == 4) else "s4-renamed"
        for f in range(20):
            if (f + version) % 7 == 0 and d % 3 == 0:
                continue  # deleted in this version
            changed = (d * 20 + f) % (version + 2) == 0
            data = f"{section}/{name}/{f} v{version if changed else 0}\n".encode() * (f + 1)
            write(root / section / name / f"page{f}.html", data,
                  mode=0o644 if (f + version) % 5 else 0o600)
    write(root / "index.html", rng.randbytes(2000))
    (root / "current-version").symlink_to(f"docs/s{version}")


@pytest.mark.parametrize("options", [(), ("--delay-updates",), ("--inplace",)],
                         ids=["plain", "delay-updates", "inplace"])
def test_rsync_deploys_into_wpath_converge(mirror3, tmp_path, options) -> None:
    m = mirror3
    m.start()
    for version in range(1, 5):
        staging = tmp_path / f"site{version}"
        site_tree(staging, version)
        run(["rsync", "-a", "--delete", *options, f"{staging}/", f"{m.src}/"])
        if version in (1, 2):
            converged(m, f"rsync -a --delete {' '.join(options)} of version {version}")
    # versions 3 and 4 went out back to back, the second while the first was being mirrored
    converged(m, f"two deploys in a row with {' '.join(options) or 'no options'}")


# ---- git ----


def git(repo: Path, *args: str, home: Path) -> None:
    run(["git", "-c", "gc.auto=0", "-c", "init.defaultBranch=main", "-C", str(repo), *args],
        home=home)


def test_git_commits_checkout_gc_repack_and_worktree_converge(mirror3, tmp_path) -> None:
    m = mirror3
    require("git")
    home = tmp_path / "home"
    home.mkdir()
    repo = m.src / "repo"
    m.start()
    git(m.src, "init", "-q", "repo", home=home)
    rng = random.Random(7)
    for i in range(40):
        for j in range(3):
            data = rng.randbytes(rng.randrange(50, 3000))
            write(repo / f"src/m{i % 8}/file{(i + j) % 12}.c", data)
        if i % 10 == 9:
            git(repo, "mv", f"src/m{i % 8}", f"src/moved{i}", home=home)
        if i == 20:
            git(repo, "checkout", "-q", "-b", "other", home=home)
            git(repo, "rm", "-q", "-r", "src/m0", home=home)
        git(repo, "add", "-A", home=home)
        git(repo, "commit", "-q", "-m", f"commit {i}", home=home)
        if i == 30:
            git(repo, "checkout", "-q", "main", home=home)
    converged(m, "40 git commits on two branches")
    git(repo, "checkout", "-q", "other", home=home)
    converged(m, "git checkout of the other branch")
    git(repo, "gc", "-q", "--aggressive", "--prune=now", home=home)
    converged(m, "git gc --aggressive (loose objects packed and deleted)")
    write(repo / "after-gc.txt", b"one more object")
    git(repo, "add", "after-gc.txt", home=home)
    git(repo, "commit", "-q", "-m", "after gc", home=home)
    git(repo, "repack", "-q", "-a", "-d", home=home)
    converged(m, "git repack -ad (old packs replaced)")
    git(repo, "worktree", "add", "-q", str(m.src / "repo-main"), "main", home=home)
    write(m.src / "repo-main/edited-in-worktree", b"x")
    git(m.src / "repo-main", "add", "-A", home=home)
    git(m.src / "repo-main", "commit", "-q", "-m", "in the worktree", home=home)
    converged(m, "git worktree add and a commit in it")


# ---- a release directory swapped by a symlink ----


def test_release_symlink_swapped_quickly_with_old_releases_removed(mirror3) -> None:
    m = mirror3
    releases = m.src / "releases"
    for f in range(40):
        write(releases / "r1" / f"app/part{f % 4}/f{f}.js", b"r1 %d\n" % f)
    run(["ln", "-sfn", "releases/r1", m.src / "current"])
    m.start()
    converged(m, "the start-up sync")
    for n in range(2, 14):
        new = releases / f"r{n}"
        run(["cp", "-a", releases / f"r{n - 1}", new])
        for f in range(0, 40, 3):
            write(new / f"app/part{f % 4}/f{f}.js", b"r%d %d\n" % (n, f))
        write(new / f"only-in-r{n}", b"%d" % n)
        run(["sh", "-c", f"ln -sfn releases/r{n} current.tmp && mv -T current.tmp current"],
            cwd=m.src)
        if n > 3:
            run(["rm", "-rf", releases / f"r{n - 3}"])
        if n == 3:
            converged(m, "the first two swaps")
    converged(m, "twelve swaps in a row and old releases removed")
    for node in m.nodes:
        assert os.readlink(node.dst / "current") == "releases/r13", node.kind


# ---- sed -i ----


def test_sed_in_place_over_hundreds_of_files_several_times(mirror3) -> None:
    m = mirror3
    sed = require("sed")
    paths = []
    for i in range(300):
        p = m.src / f"conf/d{i % 12}/file{i}.conf"
        write(p, b"name = alpha\nhost = alpha.example\nport = %d\n" % i,
              mode=0o640 if i % 4 else 0o600)
        paths.append(p)
    m.start()
    converged(m, "the start-up sync")
    for expression in ("s/alpha/beta/g", "s/beta/gamma/", "s/port = 1/port = 9/", "$a\\# end"):
        run([sed, "-i", "-e", expression, *paths])
    run([sed, "-i.bak", "-e", "s/gamma/delta/", *paths[:50]])  # with backups beside
    converged(m, "five sed -i runs in a row over 300 files")


def test_sed_in_place_sends_its_files_without_replaying_its_temporary_renames(mirror3) -> None:
    """sed writes each file under a temporary name and renames it over the old one; no node
    ever had the temporary name, so a mv of it could only fail and cost a round trip."""
    m = mirror3
    sed = require("sed")
    paths = [m.src / f"pages/d{i % 10}/page{i}.html" for i in range(200)]
    for i, path in enumerate(paths):
        write(path, b"<p>version 1</p>\n" * (1 + i % 7))
    m.start()
    converged(m, "the start-up sync")
    run([sed, "-i", "-e", "s/version 1/version 2/", *paths])
    converged(m, "sed -i over 200 files")
    attempted = sum(int(n) for n in re.findall(r"replayed \d+ of (\d+) moves", m.daemon.log()))
    # A batch may take a temporary file just before its rename is read: a few at most.
    assert attempted <= 20, f"{attempted} renames of sed's temporary files were replayed"


def test_tar_extracted_while_the_start_up_sync_runs(mirror3, tmp_path) -> None:
    """Watches go in before the first full sync: what lands during it is not lost."""
    m = mirror3
    tar = require("tar")
    count = archive_tree(tmp_path / "staging", 1)
    run([tar, "-cf", tmp_path / "release.tar", "-C", tmp_path / "staging", "."])
    make_tree(m.src / "already", dirs=60, files_per_dir=50, size=2000)
    d = m.start(wait_ready=False)
    d.wait_log(lambda log: " watching " in log, 30, "the watches to be in")
    run([tar, "-xf", tmp_path / "release.tar", "-C", m.src])
    converged(m, f"tar -x of {count} files during the start-up sync")
    d.wait_ready(30)
