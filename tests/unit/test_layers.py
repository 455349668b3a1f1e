"""The layer rules, read from the source with ``ast`` (nothing is imported).

robofleet's four packages form layers, lowest first: ``runtime`` → ``actors`` → ``gateway`` →
``cluster``. A module may import its own layer and the layers below it, never one above; no
two modules import each other, however long the way round; Ray is imported only in
``actors/``, ``cluster/`` and ``gateway/actor.py``, and ``ray.remote`` is applied only in
``actors/ray/`` and ``gateway/actor.py``. ``runtime/`` does not even name a module above it in
a string, nor Ray (a class path such as ``"actors.x:Y"`` is an import put off until run time).

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("runtime", "actors", "gateway", "cluster")  # lowest first
RANK = {name: rank for rank, name in enumerate(LAYERS)}

# Where Ray may be imported, and where ray.remote may be applied (module-name prefixes).
RAY_IMPORT_ALLOWED = ("actors", "cluster", "gateway.actor")
RAY_REMOTE_ALLOWED = ("actors.ray", "gateway.actor")
# The source tree beside the packages; an installed robofleet has neither.
SOURCE_ONLY = ("bench", "tests")

# A dotted path into a layer above runtime, or into Ray (``"actors.x:Y"``, ``"ray.util"``).
UPWARD_NAME = re.compile(r"(?<![\w.\-/])(actors|gateway|cluster|ray)\.[A-Za-z_]\w*")


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen from the module that holds it."""

    importer: str
    target: str  # a module of the tree (most specific one named) or the dotted name as written
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the four packages, by dotted name."""
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            found[_module_name(path)] = path
    return found


@cache
def syntax_tree(name: str) -> ast.Module:
    """The parsed source of a module of the tree."""
    path = modules()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_package(name: str, known: dict[str, Path] | frozenset[str]) -> bool:
    path = known.get(name) if isinstance(known, dict) else None
    if path is not None:
        return path.name == "__init__.py"
    return any(other.startswith(name + ".") for other in known)


def _resolve(dotted: str, known: dict[str, Path] | frozenset[str]) -> str:
    """The most specific module of the tree ``dotted`` names, or ``dotted`` if none."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return dotted


def imports_of(
    name: str, tree: ast.Module, known: dict[str, Path] | frozenset[str] | None = None
) -> list[Import]:
    """Every import in a module, wherever it sits, resolved against the modules of the tree.

    ``from pkg import name`` targets ``pkg.name`` when that is a module, else ``pkg``; relative
    imports are made absolute from ``name``.
    """
    known = modules() if known is None else known
    package = name if _is_package(name, known) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(name, _resolve(a.name, known), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in known else _resolve(base, known)
                found.append(Import(name, target, node.lineno))
    return found


def _layer(dotted: str) -> str:
    return dotted.split(".")[0]


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def upward_imports(imports: list[Import]) -> list[str]:
    """Imports that point at a layer above the importer's."""
    bad = []
    for imp in imports:
        src, dst = _layer(imp.importer), _layer(imp.target)
        if dst in RANK and RANK[dst] > RANK[src]:
            bad.append(f"{imp.importer}:{imp.line} imports {imp.target} ({src} → {dst})")
    return bad


def ray_imports(imports: list[Import]) -> list[str]:
    """Imports of Ray from a module that may not touch it."""
    return [
        f"{imp.importer}:{imp.line} imports {imp.target}"
        for imp in imports
        if _layer(imp.target) == "ray" and not _within(imp.importer, RAY_IMPORT_ALLOWED)
    ]


def ray_remote_uses(name: str, tree: ast.Module) -> list[str]:
    """Every place a module reaches ``ray.remote`` (through any alias of ``ray``)."""
    ray_names: set[str] = set()
    remote_names: set[str] = set()
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ray" or (alias.name.startswith("ray.") and not alias.asname):
                    ray_names.add(alias.asname or "ray")
        elif isinstance(node, ast.ImportFrom) and node.module == "ray" and not node.level:
            for alias in node.names:
                if alias.name == "remote":
                    remote_names.add(alias.asname or "remote")
                    uses.append(f"{name}:{node.lineno} imports ray.remote")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "remote"
            and isinstance(node.value, ast.Name)
            and node.value.id in ray_names
        ):
            uses.append(f"{name}:{node.lineno} uses {node.value.id}.remote")
        elif isinstance(node, ast.Name) and node.id in remote_names:
            uses.append(f"{name}:{node.lineno} uses ray.remote as {node.id}")
    return uses


def _docstrings(tree: ast.Module) -> set[int]:
    holders = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, holders) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def upward_strings(name: str, tree: ast.Module) -> list[str]:
    """Strings (docstrings aside) that name a module of a layer above ``runtime``, or Ray's."""
    skip = _docstrings(tree)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            for match in UPWARD_NAME.finditer(node.value):
                bad.append(f"{name}:{node.lineno} names {match.group(0)!r} in {node.value!r}")
    return bad


def import_graph(imports: list[Import], known: dict[str, Path] | frozenset[str]) -> dict:
    """Module → {imported module of the tree → first line}, self-imports left out."""
    graph: dict[str, dict[str, int]] = {name: {} for name in known}
    for imp in imports:
        if imp.target in known and imp.target != imp.importer:
            graph[imp.importer].setdefault(imp.target, imp.line)
    return graph


def _strongly_connected(graph: dict[str, dict[str, int]]) -> Iterator[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                yield from visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            yield sorted(component)

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


def _a_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """The shortest way from the component's first module back to itself."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node]):
                if nxt == start:
                    return paths[node] + [start]
                if nxt in members and nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def import_cycles(graph: dict[str, dict[str, int]]) -> list[str]:
    """One cycle per group of modules that import each other, with the lines that do it."""
    reports = []
    for component in _strongly_connected(graph):
        if len(component) > 1:
            cycle = _a_cycle(graph, component)
            steps = [f"{a}:{graph[a][b]} → {b}" for a, b in zip(cycle, cycle[1:], strict=False)]
            reports.append(f"{' → '.join(cycle)}  ({'; '.join(steps)}; all: {component})")
    return reports


def all_imports() -> list[Import]:
    """Every import of every module of the four packages."""
    return [imp for name in modules() for imp in imports_of(name, syntax_tree(name))]


def _fail_with(found: list[str], rule: str) -> None:
    assert not found, f"{rule}:\n  " + "\n  ".join(found)


# -- the rules, over the tree -------------------------------------------------------------


def test_the_walk_finds_every_layer():
    names = modules()
    for layer in LAYERS:
        assert layer in names, f"{layer}/__init__.py not found"
    assert {"runtime.messages", "gateway.actor", "cluster.cli"} <= set(names)


def test_no_import_points_up_a_layer():
    _fail_with(upward_imports(all_imports()), f"imports pointing up a layer ({' → '.join(LAYERS)})")


def test_no_import_cycle():
    _fail_with(import_cycles(import_graph(all_imports(), modules())), "import cycles")


def test_ray_is_imported_only_where_it_belongs():
    _fail_with(ray_imports(all_imports()), f"ray imported outside {RAY_IMPORT_ALLOWED}")


def test_ray_remote_is_applied_only_in_the_ray_layer():
    found = [
        use
        for name in modules()
        if not _within(name, RAY_REMOTE_ALLOWED)
        for use in ray_remote_uses(name, syntax_tree(name))
    ]
    _fail_with(found, f"ray.remote used outside {RAY_REMOTE_ALLOWED}")


def test_runtime_names_no_module_above_it():
    found = [
        bad
        for name in modules()
        if _layer(name) == "runtime"
        for bad in upward_strings(name, syntax_tree(name))
    ]
    _fail_with(found, "strings in runtime/ naming a module of actors/, gateway/, cluster/ or ray")


def test_packages_do_not_import_the_source_tree():
    found = [
        f"{imp.importer}:{imp.line} imports {imp.target}"
        for imp in all_imports()
        if _layer(imp.target) in SOURCE_ONLY
    ]
    _fail_with(found, f"imports of {SOURCE_ONLY}, which an installed robofleet does not have")


# -- the checks themselves, on made-up sources --------------------------------------------

FAKE_TREE = frozenset(
    {
        "runtime",
        "runtime.a",
        "runtime.b",
        "runtime.sub",
        "runtime.sub.c",
        "actors",
        "actors.x",
        "actors.ray",
        "actors.ray.w",
        "gateway",
        "gateway.actor",
        "gateway.app",
        "cluster",
        "cluster.cli",
    }
)


def _imports(name: str, source: str) -> list[Import]:
    return imports_of(name, ast.parse(source), FAKE_TREE)


def test_imports_are_found_in_functions_and_under_type_checking():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from actors.x import Thing\n"
        "def f():\n    import gateway.app\n"
        "async def g():\n    from cluster import cli\n"
    )
    targets = {imp.target for imp in _imports("runtime.a", source)}
    assert {"actors.x", "gateway.app", "cluster.cli"} <= targets
    assert len(upward_imports(_imports("runtime.a", source))) == 3


def test_relative_imports_are_made_absolute():
    assert [i.target for i in _imports("runtime.sub.c", "from .. import a")] == ["runtime.a"]
    assert [i.target for i in _imports("runtime.sub.c", "from ..b import X")] == ["runtime.b"]
    assert [i.target for i in _imports("runtime.sub", "from . import c")] == ["runtime.sub.c"]
    assert [i.target for i in _imports("runtime.sub", "from .c import Y")] == ["runtime.sub.c"]


def test_same_and_lower_layers_are_allowed():
    source = "import runtime.a\nfrom actors.x import T\nfrom gateway import app\nimport os\n"
    assert upward_imports(_imports("gateway.app", source)) == []
    assert len(upward_imports(_imports("actors.x", source))) == 1


def test_a_cycle_is_reported_with_its_path():
    imports = (
        _imports("runtime.a", "from runtime.b import X")
        + _imports("runtime.b", "def late():\n    from runtime.sub import c")
        + _imports("runtime.sub.c", "import runtime.a")
        + _imports("actors.x", "import runtime.a")
    )
    (report,) = import_cycles(import_graph(imports, FAKE_TREE))
    assert report.startswith("runtime.a → runtime.b → runtime.sub.c → runtime.a")
    assert "runtime.b:2 → runtime.sub.c" in report


def test_ray_outside_its_places_is_caught():
    assert ray_imports(_imports("runtime.a", "from ray.util import x")) != []
    assert ray_imports(_imports("gateway.app", "def f():\n    import ray")) != []
    assert ray_imports(_imports("gateway.actor", "import ray")) == []
    assert ray_imports(_imports("actors.x", "import ray")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import ray\nR = ray.remote(object)",
        "import ray as r\n@r.remote\nclass A: ...",
        "from ray import remote\nR = remote(object)",
        "from ray import remote as rr\nR = rr(num_cpus=1)(object)",
    ],
)
def test_every_spelling_of_ray_remote_is_caught(source):
    assert ray_remote_uses("actors.x", ast.parse(source)) != []


def test_calling_remote_on_a_handle_is_not_ray_remote():
    source = "import ray\nh = Actor.options(name='a').remote()\nray.get(h.ping.remote())"
    assert ray_remote_uses("cluster.cli", ast.parse(source)) == []


def test_upward_strings_skip_docstrings_but_not_values():
    source = (
        '"""See gateway.errors for the translation."""\n'
        'POOL = "actors.ocr_worker:OcrWorker"\n'
        'def f():\n    """Like cluster.cli."""\n    return f"{1} the cluster. done"\n'
    )
    (bad,) = upward_strings("runtime.a", ast.parse(source))
    assert "actors.ocr_worker" in bad
    assert upward_strings("runtime.a", ast.parse('m = import_module("ray.util.metrics")')) != []
    assert upward_strings("runtime.a", ast.parse('x = "numpy.array.shape, 2 in a cluster."')) == []
