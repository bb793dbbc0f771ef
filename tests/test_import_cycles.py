"""No import cycles inside pool_core or the adapters (FTP, API, web), and every module imports.

The graph counts every import a module runs: at the top, and inside functions (a lazy import
is how a cycle hides). Imports under `if TYPE_CHECKING:` never run, so they do not count.
`from package import submodule` is an edge to the submodule only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pool_core", "pool_server", "catalog_api", "catalog_web")


def _modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(sub) for stmt in node.body for sub in ast.walk(stmt))
    return skipped


def _imported(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        module = base + ("." + node.module if node.module else "")
    else:
        module = node.module or ""
    return [f"{module}.{alias.name}" for alias in node.names] + [module]


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """module -> the modules of the packages (the three server packages) it imports."""
    modules = _modules(root, packages)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        skipped = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets = _imported(node, package)
            if isinstance(node, ast.ImportFrom):
                submodules = [t for t in targets[:-1] if t in modules]
                # `from pkg import a, b` where a and b are modules: edges to them, not to pkg.
                all_modules = len(submodules) == len(targets) - 1
                targets = submodules if all_modules else targets[-1:]
            for target in targets:
                resolved = resolve(target)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_inside_the_server_packages() -> None:
    graph = import_graph()
    assert len(graph) > 100, "the scan found too few modules to mean anything"
    found = cycles(graph)
    detail = [
        f"{' <-> '.join(c)}: " + "; ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c)
        for c in found
    ]
    assert not found, "import cycles:\n" + "\n".join(detail)


def test_the_cycle_finder_finds_a_lazy_cycle(tmp_path: Path) -> None:
    # The check must be able to fail: two modules importing each other, one lazily.
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert cycles(graph) == [["a", "b"]]
    tree = ast.parse("def f():\n    from pool_core.x import y\n")
    assert [t for n in ast.walk(tree) for t in _imported(n, "pool_core")] == [
        "pool_core.x.y",
        "pool_core.x",
    ]


def test_the_scan_finds_a_cycle_in_real_files(tmp_path: Path) -> None:
    # The same scan over files on disk: a lazy import back, and `from pkg import module`.
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    for path, text in {
        "__init__.py": "",
        "sub/__init__.py": "",
        "sub/a.py": "from pkg import b\n",
        "b.py": "def f() -> None:\n    from pkg.sub.a import g\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n",
        "d.py": "import pkg.c\n",
    }.items():
        (package / path).write_text(text)
    graph = import_graph(tmp_path, ("pkg",))
    # The TYPE_CHECKING import never runs, so c <- d is no cycle; a <-> b is one.
    assert cycles(graph) == [["pkg.b", "pkg.sub.a"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports_in_a_fresh_interpreter(package: str) -> None:
    names = sorted(m for m in _modules() if m.split(".")[0] == package)
    names = [m for m in names if not m.endswith("__main__")]
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run(
        [sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-4000:]


ADAPTERS = ("pool_server", "catalog_api", "catalog_web", "transcode", "pool_sync", "jointpool")


@pytest.mark.parametrize("package", ["pool_core", "pool_server", "catalog_api", "catalog_web"])
def test_no_adapter_imports_another(package: str) -> None:
    # The architecture's rule: pool_core imports no adapter; an adapter imports pool_core and
    # libraries, never another adapter (only `jointpool` wires them together).
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top in ADAPTERS and top != package:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []
