"""The command line a person explores: --help lists every command, an unknown one is named,
every command's exit statuses are the one table, in its --help and in inosync(8); and the
man pages render without warnings, in 80 columns, with headings that read as headings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from inosync import exitcodes
from inosync.cli import COMMANDS, main

MAN = Path(__file__).resolve().parents[2] / "packaging" / "man"
PAGES = sorted(MAN.iterdir())


def words(text: str) -> str:
    return " ".join(text.split())


def help_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main([*args, "--help"]) == 0
    return words(capsys.readouterr().out)


def test_help_lists_every_command_with_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys)
    for name, line in COMMANDS.items():
        assert f"{name} {words(line)}" in text, name
    assert set(COMMANDS) >= set(exitcodes.TABLE) - {"inosync -c FILE"}


@pytest.mark.parametrize("command", sorted(exitcodes.TABLE))
def test_each_commands_help_ends_with_its_exit_statuses(
        capsys: pytest.CaptureFixture[str], command: str) -> None:
    text = help_of(capsys) if command == "inosync -c FILE" else help_of(capsys, command)
    for code, meaning in exitcodes.TABLE[command]:
        assert f"{code} {words(meaning)}" in text, (command, code)
    assert "EXIT STATUS in inosync(8)" in text


def test_verify_says_78_for_a_config_error_and_means_it(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    assert main(["verify", "-c", str(tmp_path / "missing.toml")]) == exitcodes.CONFIG
    assert "78 the config is missing, unreadable or invalid" in help_of(capsys, "verify")


@pytest.mark.parametrize("word, hint", [("lsit", "did you mean 'list'?"),
                                        ("stauts", "did you mean 'status'?"),
                                        ("frobnicate", "Commands: check, status, list")])
def test_an_unknown_command_is_named(capsys: pytest.CaptureFixture[str], word: str,
                                     hint: str) -> None:
    assert main([word]) == exitcodes.USAGE
    said = capsys.readouterr().err
    assert f"'{word}' is not a command" in said and hint in said, said
    assert "-c/--config" not in said


def test_no_arguments_asks_for_a_command_or_a_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == exitcodes.USAGE
    assert "name a command, or -c FILE to run the daemon" in capsys.readouterr().err


def test_status_usage_errors_are_unknown_as_plugins_say() -> None:
    assert main(["status", "--warn", "soon"]) == exitcodes.UNKNOWN


def roff_text(source: str) -> str:
    """The words of roff source, macros and font changes left out."""
    out = []
    for line in source.splitlines():
        if line.startswith("."):
            macro, _, rest = line.partition(" ")
            if macro in (".SS", ".B", ".BR", ".I", ".IR", ".SH"):
                out.append(rest.replace('"', ""))
            continue
        out.append(line)
    text = re.sub(r"\\f[BIRP]", "", " ".join(out)).replace("\\-", "-")
    return words(text)


def test_the_man_pages_exit_status_is_the_table() -> None:
    page = (MAN / "inosync.8").read_text()
    section = page[page.index(".SH EXIT STATUS"):page.index(".SH ENVIRONMENT")]
    text = roff_text(section)
    for command, rows in [*exitcodes.TABLE.items(), ("Every command", exitcodes.ANY_COMMAND)]:
        heading = "inosync -c FILE (the daemon)" if command == "inosync -c FILE" else (
            command if command == "Every command" else f"inosync {command}")
        assert heading in text, heading
        part = text[text.index(heading):]
        for code, meaning in rows:
            assert f"{code} {meaning[0].upper()}{meaning[1:]}." in part, (command, code)


def man(page: Path, *options: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("man") is None:
        pytest.fail("man is not installed - run: bash scripts/setup test")
    env = {**os.environ, "MANWIDTH": "80", "LANG": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    return subprocess.run(["man", *options, "-l", str(page)], capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_man_pages_render_without_warnings_in_80_columns(page: Path) -> None:
    done = man(page, "--warnings")
    assert done.returncode == 0 and done.stderr == "", done.stderr
    lines = man(page).stdout.expandtabs().splitlines()
    plain = [re.sub(r".\x08", "", line) for line in lines]
    assert [line for line in plain if len(line) > 80] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_item_heading_is_set_in_bold_or_italics(page: Path) -> None:
    lines = page.read_text().splitlines()
    tags = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith(".TP")]
    plain = [tag for tag in tags if not re.match(r"^(\.(B|BI|BR|I|IB|IR)\b|\\f[BI])", tag)]
    assert plain == []
