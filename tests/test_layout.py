"""The house rules a newcomer relies on, checked on the source itself.

Roles: every permission check names a capability of ``recognition.roles``; no view, API
view, command or template spells a permission of its own.
"""

from __future__ import annotations

import ast
import os
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
        if path.is_symlink():  # a committed link to a folder of one machine (a venv, a data set)
            target = os.readlink(path)
            if os.path.isabs(target) or MACHINE_PATH.search(target):
                offenders.append(f"{name}: a link to {target}")
            continue
        if name.startswith("docker/") or name == "constraints.txt" or not path.is_file():
            continue
        if path.suffix not in {".py", ".md", ".html", ".txt", ".toml", ".cfg", ".sh", ".yaml", ".yml",
                               ".json", ".js", ".css", ""}:
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if MACHINE_PATH.search(line):
                offenders.append(f"{name}:{n}: {line.strip()[:120]}")
    assert not offenders, "data paths come from arguments or environment variables:\n" + "\n".join(offenders)


# --- the import graph --------------------------------------------------------------------------

PRODUCT_PACKAGES = ("faceweb", "recognition")


def _module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _product_modules() -> dict[str, object]:
    return {_module_name(path): path for package in PRODUCT_PACKAGES
            for path in sorted((REPO / package).rglob("*.py")) if "migrations" not in path.parts}


def _module_level(node):
    """What runs at import: the module body and class bodies (inside if/try too), not function bodies."""
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield child
            yield from _module_level(child)


def _imports(path, name: str, *, top_level_only: bool) -> set[str]:
    """Modules ``path`` imports (absolute names); only those run at import time with ``top_level_only``."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = list(_module_level(tree)) if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_no_import_circle_among_the_apps_modules():
    """A module-level import circle is a layering mistake; the few real ones are function-local
    imports with a comment saying why."""
    modules = _product_modules()
    graph = {name: sorted(m for m in _imports(path, name, top_level_only=True)
                          if m in modules and m != name)
             for name, path in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for other in graph[name]:
            if state.get(other) == 1:
                circles.append([*stack[stack.index(other):], other])
            elif other not in state:
                visit(other)
        stack.pop()
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name)
    # A package's __init__ importing its own submodule is not a circle of layers.
    circles = [c for c in circles if not all(a.startswith(c[0] + ".") or a == c[0] for a in c)]
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_no_product_module_imports_tests_bench_or_django_test():
    forbidden = ("tests", "helpers", "conftest", "procs", "bench", "django.test")
    offenders = sorted(f"{name}: {imported}" for name, path in _product_modules().items()
                       for imported in _imports(path, name, top_level_only=False)
                       if any(imported == f or imported.startswith(f + ".") for f in forbidden))
    assert not offenders, offenders


def test_every_package_says_what_lives_there_and_who_may_import_it():
    packages = [path for package in (*PRODUCT_PACKAGES, "bench")
                for path in sorted((REPO / package).rglob("__init__.py"))]
    undocumented = [str(p.relative_to(REPO)) for p in packages
                    if "import" not in (ast.get_docstring(ast.parse(p.read_text())) or "")]
    assert not undocumented, f"packages without a docstring naming who imports them: {undocumented}"


def test_selectors_and_services_know_nothing_of_http():
    """They raise domain errors (recognition.exceptions); the pages and the API turn them into 404s."""
    modules = _product_modules()
    domain = {name: path for name, path in modules.items()
              if name == "recognition.selectors" or name.startswith("recognition.services")
              or name in ("recognition.api.services", "recognition.api.tokens")}
    offenders = sorted(f"{name}: {imported}" for name, path in domain.items()
                       for imported in _imports(path, name, top_level_only=False)
                       if imported == "django.http" or imported.startswith("django.http."))
    assert not offenders, offenders


def test_no_code_writes_djangos_private_prefetch_cache():
    offenders = [str(path.relative_to(REPO)) for path in _product_modules().values()
                 if "_prefetched_objects_cache" in path.read_text()]
    assert not offenders, f"use prefetch_related_objects(): {offenders}"


def test_services_take_an_access_context_not_an_http_request():
    """The access log's actor, address and request id come in an Access (recognition.access)."""
    offenders = []
    for name, path in _product_modules().items():
        if not (name.startswith("recognition.services") or name in ("recognition.api.services",
                                                                     "recognition.audit")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                params = [a.arg for a in [*node.args.args, *node.args.kwonlyargs]]
                if "request" in params:
                    offenders.append(f"{name}.{node.name}")
    assert not offenders, offenders


def test_html_views_read_input_through_django_forms():
    """A page view hands ``request.POST`` / ``request.FILES`` to a form and reads the cleaned data;
    parsing the body by hand skips the form's checks and its messages."""
    offenders = []
    for path in sorted((APP / "views").glob("*.py")):
        tree = ast.parse(path.read_text())
        given_to_a_form = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
                           and getattr(node.func, "id", getattr(node.func, "attr", "")).endswith("Form")
                           for arg in node.args}
        offenders += [f"{path.relative_to(REPO)}:{node.lineno}: request.{node.attr}"
                      for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and node.attr in ("POST", "FILES")
                      and isinstance(node.value, ast.Name) and node.value.id == "request"
                      and id(node) not in given_to_a_form]
    assert not offenders, ("read the request through a form (recognition/forms.py):\n"
                           + "\n".join(sorted(offenders)))
