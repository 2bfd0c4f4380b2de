"""The house rules a newcomer relies on, checked on the source itself.

Roles: every permission check names a capability of ``recognition.roles``; no view, API
view, command or template spells a permission of its own.
"""

from __future__ import annotations

import re
import subprocess

from helpers import REPO

from recognition import roles

APP = REPO / "recognition"
TEMPLATES = REPO / "templates"
# A permission string of the app ("recognition.erase_person"), as roles.py spells them.
PERMISSION = re.compile(
    r"""["']recognition\.(?:add|change|delete|view|review|merge|erase|export|manage)_\w+["']""")


def _python_sources():
    for path in sorted(APP.rglob("*.py")):
        if "migrations" not in path.parts and path.name != "roles.py":
            yield path


def test_no_permission_string_outside_the_roles_module():
    offenders = [f"{path.relative_to(REPO)}:{n}: {line.strip()}"
                 for path in _python_sources()
                 for n, line in enumerate(path.read_text().splitlines(), start=1) if PERMISSION.search(line)]
    assert not offenders, "spell permissions through recognition.roles (CAN_*):\n" + "\n".join(offenders)


def test_templates_check_only_capabilities_that_exist():
    """A mistyped ``can.mrege`` would be silently false and hide a link or a form."""
    used = {(path.relative_to(REPO), name) for path in TEMPLATES.rglob("*.html")
            for name in re.findall(r"\bcan\.(\w+)", path.read_text())}
    assert used, "the templates check capabilities through can.<name>"
    unknown = sorted(f"{path}: can.{name}" for path, name in used if name not in roles.CAPABILITIES)
    assert not unknown, unknown
    spelled = [p for p in TEMPLATES.rglob("*.html") if "perms." in p.read_text()]
    assert not spelled, f"use can.<name>, not perms: {spelled}"


def test_capabilities_name_permissions_that_roles_grant():
    granted = {f"recognition.{codename}"
               for codenames in roles.ROLE_PERMISSIONS.values() for codename in codenames}
    assert set(roles.CAPABILITIES.values()) <= granted


# An absolute path of some machine used as a data path: a checkout anywhere else breaks on it.
# (docker/ describes the image's own filesystem, not a machine's.)
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|root|home|tmp|Users)/")


def test_no_absolute_machine_path_in_code_tests_or_docs():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    offenders = []
    for name in tracked:
        path = REPO / name
        if name.startswith("docker/") or name == "constraints.txt" or not path.is_file():
            continue
        if path.suffix not in {".py", ".md", ".html", ".txt", ".toml", ".cfg", ".sh", ".yaml", ".yml",
                               ".json", ".js", ".css", ""}:
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if MACHINE_PATH.search(line):
                offenders.append(f"{name}:{n}: {line.strip()[:120]}")
    assert not offenders, "data paths come from arguments or environment variables:\n" + "\n".join(offenders)
