"""packaging/rpm/inosync.spec uses Fedora's real macros, in the right sections.

Debian's rpm has neither pyproject-rpm-macros nor systemd-rpm-macros, so the build on
this machine runs the spec with packaging/rpm/macros.fallback: a misspelt macro there
(or a fallback under a name Fedora does not have) would build here and fail on Fedora.
The names below are Fedora's, copied from the macro files of those packages.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "packaging" / "rpm" / "inosync.spec"
FALLBACK = REPO / "packaging" / "rpm" / "macros.fallback"

# pyproject-rpm-macros: macros.pyproject.
PYPROJECT_RPM_MACROS = frozenset({
    "pyproject_wheel", "pyproject_install", "pyproject_save_files", "pyproject_check_import",
    "pyproject_buildrequires", "pyproject_files", "pyproject_extras_subpkg",
    "pyproject_build_lib", "tox", "default_toxenv", "toxenv", "_pyproject_wheeldir",
    "_pyproject_builddir", "_pyproject_files_prefix", "_pyproject_modules",
    "_pyproject_ghost_distinfo", "_pyproject_record", "_set_pytest_addopts",
})
# python-rpm-macros: macros.python, macros.python3, macros.python-srpm.
PYTHON_RPM_MACROS = frozenset({
    "__python3", "python3", "python3_pkgversion", "python3_version", "python3_version_nodots",
    "python3_sitelib", "python3_sitearch", "python3_platform", "py3_shebang_flags",
    "py3_shebang_fix", "py3_check_import", "pytest", "__pytest", "py3_build", "py3_install",
    "py3_dist", "python_provide", "python_extras_subpkg",
})
# systemd-rpm-macros: macros.systemd.
SYSTEMD_RPM_MACROS = frozenset({
    "systemd_post", "systemd_preun", "systemd_postun", "systemd_postun_with_restart",
    "systemd_postun_with_reload", "systemd_user_post", "systemd_user_preun",
    "systemd_user_postun", "systemd_user_postun_with_restart", "systemd_requires",
    "systemd_ordering", "_unitdir", "_userunitdir", "_presetdir", "_systemd_util_dir",
    "_tmpfilesdir", "_sysusersdir", "tmpfiles_create_package", "sysusers_create_package",
})
# rpm itself and redhat-rpm-config: sections, directives and directory macros.
RPM_BUILTIN = frozenset({
    "prep", "generate_buildrequires", "build", "install", "check", "post", "preun", "postun",
    "files", "changelog", "description", "package", "pre", "license", "doc", "dir", "config",
    "ghost", "attr", "defattr", "global", "define", "undefine", "if", "else", "endif",
    "autosetup", "setup", "name", "version", "release", "dist", "buildroot", "_bindir",
    "_sbindir", "_sysconfdir", "_mandir", "_datadir", "_prefix", "_docdir", "_docdir_fmt",
    "_libdir", "_localstatedir", "_rundir", "_sharedstatedir", "_rpmconfigdir", "nil",
    "expand", "undefined", "defined", "buildsubdir", "_builddir", "NAME", "VERSION",
    "_topdir", "__brp_compress", "SOURCE0",
})
KNOWN = PYPROJECT_RPM_MACROS | PYTHON_RPM_MACROS | SYSTEMD_RPM_MACROS | RPM_BUILTIN
# What the fallback may define: Fedora's names only (and rpm's own brp hook).
FALLBACK_MAY_DEFINE = PYPROJECT_RPM_MACROS | PYTHON_RPM_MACROS | SYSTEMD_RPM_MACROS | {
    "_docdir_fmt", "__brp_compress"}

MACRO = re.compile(r"%(?:\{[?!]*([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


def _uncommented(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _sections(text: str) -> dict[str, str]:
    """Each %section's body, keyed by the section line (e.g. "install", "files -f ...")."""
    names = ("prep", "generate_buildrequires", "build", "install", "check", "post", "preun",
             "postun", "files", "changelog", "description")
    parts = re.split(rf"^%({'|'.join(names)})\b(.*)$", text, flags=re.M)
    sections: dict[str, str] = {}
    for i in range(1, len(parts), 3):
        sections[(parts[i] + parts[i + 1]).strip()] = parts[i + 2]
    return sections


def macros_used(text: str) -> set[str]:
    return {a or b for a, b in MACRO.findall(_uncommented(text).replace("%%", ""))}


def test_every_macro_the_spec_uses_is_a_real_fedora_or_rpm_macro() -> None:
    unknown = macros_used(SPEC.read_text()) - KNOWN
    assert not unknown, f"{SPEC}: macros Fedora does not define: {sorted(unknown)}"


def test_the_spec_builds_installs_and_checks_with_the_pyproject_macros() -> None:
    text = SPEC.read_text()
    sections = _sections(_uncommented(text))
    assert "%pyproject_buildrequires" in sections["generate_buildrequires"]
    assert "%pyproject_wheel" in sections["build"]
    assert "%pyproject_install" in sections["install"]
    assert re.search(r"%pyproject_save_files -l inosync\b", sections["install"])
    assert "%pyproject_check_import" in sections["check"]
    assert re.search(r"%pytest\b.*tests/unit", sections["check"])
    assert "files -f %{pyproject_files}" in sections, sorted(sections)
    assert re.search(r"^Release:\s+\d+%\{\?dist\}$", text, re.M)
    # The package goes into python3_sitelib through the macros, never pip --target.
    assert not re.search(r"pip install|--target", _uncommented(text))


def test_the_scriptlets_use_the_systemd_macros_for_the_template_and_the_target() -> None:
    sections = _sections(_uncommented(SPEC.read_text()))
    assert re.search(r"%systemd_post inosync@\.service inosync\.target$", sections["post"], re.M)
    assert re.search(r"%systemd_preun inosync@\.service inosync\.target$", sections["preun"],
                     re.M)
    assert re.search(r"%systemd_postun_with_restart inosync@\\\*\.service$", sections["postun"],
                     re.M)
    assert re.search(r"%systemd_postun inosync\.target$", sections["postun"], re.M)
    assert "%{?systemd_requires}" in SPEC.read_text()


def test_the_fallbacks_define_only_fedora_names_and_every_one_the_spec_needs() -> None:
    defined = set(re.findall(r"^%([A-Za-z_][A-Za-z0-9_]*)", FALLBACK.read_text(), re.M))
    assert defined <= FALLBACK_MAY_DEFINE, sorted(defined - FALLBACK_MAY_DEFINE)
    needed = macros_used(SPEC.read_text()) & (PYPROJECT_RPM_MACROS | PYTHON_RPM_MACROS
                                               | SYSTEMD_RPM_MACROS)
    assert needed <= defined, f"{FALLBACK}: no fallback for {sorted(needed - defined)}"


@pytest.mark.skipif(shutil.which("rpmspec") is None, reason="rpmspec is not installed")
def test_the_spec_parses_with_the_fallbacks_and_leaves_no_macro_unexpanded() -> None:
    parsed = subprocess.run(["rpmspec", "-P", "--load", str(FALLBACK), str(SPEC)],
                            capture_output=True, text=True, check=False)
    assert parsed.returncode == 0, parsed.stderr
    left = re.findall(r"%\{?\??(?:pyproject|systemd|python3|pytest|py3)\w*", parsed.stdout)
    assert not left, f"unexpanded after rpmspec -P: {sorted(set(left))}"
