"""The package's layering rules (docs/architecture.md), checked on its source: every import counts, including
imports inside functions and under TYPE_CHECKING, since a lazy import that closes a cycle is still a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "toolkit"
TECHNIQUES = ("train", "prune", "distill", "export", "quantize", "engine")
# One-line aliases that keep old import paths working for a release; nothing inside the toolkit imports them.
ALIASES = {"toolkit.pipeline", "toolkit.onnxutil", "toolkit.specs", "toolkit.pruning"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The toolkit module an imported name lives in (`toolkit.a.b.func` -> `toolkit.a.b`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """Every toolkit module `module` imports, anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from pkg import sub` imports the submodule; `from mod import name` imports the module
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            owner = _owner(name) if name.startswith("toolkit") else None
            if owner and owner != module:
                found.add(owner)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
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

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(planted) == [["a", "b", "c"]]


def test_the_import_walker_sees_imports_inside_functions():
    assert "toolkit.models.factory" in GRAPH["toolkit.models.legacy"]  # imported inside legacy_renames


def test_only_the_catalogue_imports_a_stage_module():
    offenders = [(module, target) for module, targets in GRAPH.items() for target in targets
                 if target.endswith(".stage") and module != "toolkit.stages" and module not in ALIASES]
    assert offenders == []


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_technique_modules_never_see_the_context_or_the_recipe(technique):
    forbidden = {"toolkit.context", "toolkit.recipe", "toolkit.api", "toolkit.stages", "toolkit.run.pipeline",
                 "toolkit.run.follow", "toolkit.run.stage_runner"} | {m for m in MODULES if m.startswith("toolkit.cli")}
    offenders = {module: sorted(GRAPH[module] & forbidden) for module in MODULES
                 if module.startswith(f"toolkit.{technique}.") and not module.endswith(".stage")}
    assert {m: f for m, f in offenders.items() if f} == {}


def test_the_registry_is_a_leaf():
    assert GRAPH["toolkit.registry"] <= {"toolkit.config", "toolkit.artifacts", "toolkit.errors"}


def test_every_technique_folder_has_a_stage_module():
    assert all(f"toolkit.{technique}.stage" in MODULES for technique in TECHNIQUES)


def test_no_module_inside_the_toolkit_imports_an_old_alias():
    assert [(m, sorted(t & ALIASES)) for m, t in GRAPH.items() if t & ALIASES and m not in ALIASES] == []


@pytest.mark.parametrize("module", ["toolkit.report", "toolkit.stages", "toolkit.registry", "toolkit.records"])
def test_reading_results_and_listing_stages_do_not_import_torch(module):
    import subprocess
    import sys

    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'torchvision', 'onnx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout
    assert out.strip() == "[]"
