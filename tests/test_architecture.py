"""The house reads bottom to top: the import graph of src/ has no cycle and no arrow going up.

The layers are read from the map, docs/architecture.md (its table "| layer | … |
modules |"), so the map and the code cannot drift apart: a module missing from
the map, an import of a higher layer or a cycle fails here. Imports inside
functions count like the others; of scratchnet's own modules there are none,
and of other packages only the heavy or optional ones of ``LAZY`` may be
imported late.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "scratchnet"
MAP = ROOT / "docs" / "architecture.md"

LATE_OWN = {("scratchnet", "scratchnet.estimator")}
"""The one late import of our own: ``scratchnet.NeuralNetClassifier`` is loaded on first use (PEP 562), so that
``import scratchnet`` and the command line start without scikit-learn's estimator machinery."""

LAZY = {"dask", "distributed", "torch", "matplotlib", "sklearn", "numba", "PIL", "scipy", "uvicorn", "playwright"}
"""Packages that may be imported inside a function: optional, or heavy enough to slow the CLI's start."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str], here: str | None = None):
    """``(target module, lineno, inside a function)`` for every import in ``path`` (scratchnet's and others)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = here or module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    origin = ".".join(base + ([child.module] if child.module else []))
                else:
                    origin = child.module or ""
                for alias in child.names:
                    candidate = f"{origin}.{alias.name}"
                    found.append((candidate if candidate in known else origin, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def graph():
    known = set(modules())
    edges = {}
    for name, path in modules().items():
        edges[name] = {
            (target, line, late) for target, line, late in imports(path, known) if target in known and target != name
        }
    return edges


def layers_from_map() -> dict[str, int]:
    """``{module: layer number}`` from the table of docs/architecture.md."""
    layer_of = {}
    for line in MAP.read_text().splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|[^|]*\|\s*([^|]+)\|", line)
        if not m:
            continue
        for name in re.findall(r"`([\w./]+)`", m.group(2)):
            name = name.removesuffix(".py").replace("/", ".")
            layer_of["scratchnet" if name == "__init__" else f"scratchnet.{name}"] = int(m.group(1))
    return layer_of


def test_every_module_is_on_the_map():
    layer_of = layers_from_map()
    missing = sorted(set(modules()) - set(layer_of))
    assert not missing, f"modules missing from the table of docs/architecture.md: {missing}"
    stale = sorted(set(layer_of) - set(modules()))
    assert not stale, f"docs/architecture.md names modules that do not exist: {stale}"


def test_no_import_goes_up_a_layer():
    layer_of = layers_from_map()
    up = [
        f"{source} (layer {layer_of[source]}) imports {target} (layer {layer_of[target]}) at line {line}"
        for source, targets in graph().items()
        for target, line, _ in targets
        if source != "scratchnet" and layer_of.get(target, -1) > layer_of.get(source, 99)
    ]
    assert not up, "imports going up:\n" + "\n".join(sorted(up))


def find_cycles(edges: dict[str, set[str]]) -> list[str]:
    """Every cycle a depth-first walk of ``edges`` closes, as ``a → b → a``."""
    cycles, state = [], {}

    def dfs(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" → ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                dfs(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            dfs(node, [node])
    return cycles


def test_the_import_graph_has_no_cycle():
    cycles = find_cycles({source: {target for target, _, _ in targets} for source, targets in graph().items()})
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_imports_inside_functions_are_only_heavy_or_optional_packages():
    known = set(modules())
    late = []
    for name, path in modules().items():
        for target, line, in_function in imports(path, known):
            own_ok = (name, target) in LATE_OWN
            if in_function and not own_ok and (target in known or target.split(".")[0] not in LAZY):
                late.append(f"{name}:{line} imports {target} inside a function")
    assert not late, "\n".join(sorted(set(late)))


def test_the_checks_can_fail(tmp_path):
    """A planted cycle is found; a planted import inside a function is seen as one, with its target."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a → b → c → a"]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    planted = tmp_path / "m.py"
    planted.write_text("import numpy\n\n\ndef f():\n    from .cli import main\n")
    found = imports(planted, {"scratchnet.cli"}, here="scratchnet.m")
    assert found == [("numpy", 1, False), ("scratchnet.cli", 5, True)]
