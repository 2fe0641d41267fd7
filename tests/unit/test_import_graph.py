"""No import cycles inside ``modelmart``, counting every import statement.

A cycle that only closes through an import inside a function still couples the two modules
(and breaks as soon as someone hoists the import), so function-local and ``TYPE_CHECKING``
imports count as edges too. An edge goes to the module named: ``from modelmart.x import y`` is
an edge to ``modelmart.x.y`` when that is a module and to ``modelmart.x`` otherwise; importing
a submodule is not counted as importing its parent packages' ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

Graph = dict[str, set[str]]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names one import statement refers to, relative imports resolved."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def _target(name: str, modules: set[str]) -> str | None:
    """The longest prefix of ``name`` that is one of ``modules``."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def module_graph(root: Path, package: str) -> Graph:
    """Modules of ``package`` (a directory under ``root``) and the modules each imports."""
    paths = {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    modules = set(paths)
    graph: Graph = {name: set() for name in modules}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = list(_imported(node, name, is_package))
            if isinstance(node, ast.ImportFrom):
                # `from pkg import sub` names the submodule when there is one, else pkg itself.
                base, members = names[0], names[1:]
                names = [m if m in modules else base for m in members]
            graph[name].update(t for n in names if (t := _target(n, modules)) is not None)
    return graph


def _reachable(graph: Graph, start: str) -> set[str]:
    """Modules ``start`` imports directly or through others (itself only via a cycle)."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected sets of modules (each reaches every other) of more than one module,
    and modules that import themselves. Quadratic, which a few hundred modules can afford."""
    reach = {module: _reachable(graph, module) for module in graph}
    found: set[tuple[str, ...]] = set()
    for module, reached in reach.items():
        if module in reached:
            found.add(tuple(sorted(m for m in reached if module in reach[m])))
    return sorted(list(component) for component in found)


def test_modelmart_has_no_import_cycles() -> None:
    graph = module_graph(SRC, "modelmart")
    assert "modelmart.client.sync" in graph["modelmart.client"]  # the walk found real edges
    found = cycles(graph)
    assert not found, "import cycles (each line one strongly connected set of modules):\n" + (
        "\n".join(" <-> ".join(component) for component in found)
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_resolves_relative_submodule_and_function_local_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from . import b\nfrom .sub import thing\n",
            "pkg/b.py": "def f():\n    import pkg.sub.deep\n",
            "pkg/sub/__init__.py": "from ..a import name\nthing = 1\n",
            "pkg/sub/deep.py": "import os\nfrom pkg import sub\n",
        },
    )
    assert module_graph(tmp_path, "pkg") == {
        "pkg": set(),
        "pkg.a": {"pkg.b", "pkg.sub"},
        "pkg.b": {"pkg.sub.deep"},
        "pkg.sub": {"pkg.a"},
        "pkg.sub.deep": {"pkg.sub"},
    }


def test_reports_cycles_closed_inside_functions_and_self_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/api.py": "from pkg.helpers import helper\nclass Spec: ...\n",
            "pkg/helpers.py": "def helper():\n    from pkg.api import Spec\n",
            "pkg/alone.py": "from pkg import alone\n",
            "pkg/fine.py": "from pkg.api import Spec\n",
        },
    )
    assert cycles(module_graph(tmp_path, "pkg")) == [["pkg.alone"], ["pkg.api", "pkg.helpers"]]
