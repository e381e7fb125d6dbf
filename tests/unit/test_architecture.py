"""The package's layering rules (docs/architecture.md), checked on its source: every import counts, including
imports inside functions and under TYPE_CHECKING, since a lazy import that closes a cycle is still a cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "toolkit"
# A technique folder is any package folder with a stage.py (a new one is checked the moment it exists)
TECHNIQUES = tuple(sorted(p.parent.name for p in PACKAGE.glob("*/stage.py")))
# One-line aliases that keep old import paths working for a release; nothing inside the toolkit imports them.
ALIASES = {"toolkit.pipeline", "toolkit.onnxutil", "toolkit.specs", "toolkit.pruning", "toolkit.pruning.sensitivity"}


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


def test_every_built_in_stage_function_is_a_stage_module_of_a_technique_folder():
    from toolkit.stages import _BUILTIN

    targets = {target.partition(":")[0] for _, _, target, *_ in _BUILTIN}
    assert {t for t in targets if t not in MODULES or not t.endswith(".stage")} == set()
    assert {t.split(".")[1] for t in targets} <= set(TECHNIQUES)


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_technique_modules_use_only_what_the_stage_site_offers(technique):
    from toolkit.site import StageSite

    offered = set(StageSite.__annotations__) | {n for n in vars(StageSite) if not n.startswith("_")}
    used = {(module, attribute) for module, path in MODULES.items()
            if module.startswith(f"toolkit.{technique}.") and not module.endswith(".stage")
            for attribute in re.findall(r"\bctx\.(\w+)", path.read_text(encoding="utf-8"))}
    assert {(m, a) for m, a in used if a not in offered} == set()


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


@pytest.mark.parametrize("alias,names", [
    ("toolkit.pipeline", ["Pipeline", "RunResult", "run_recipe"]),
    ("toolkit.onnxutil", ["export_onnx", "parity", "check_onnx_file"]),
    ("toolkit.specs", ["MeasureSpec", "ModelSpec", "DataSpec", "StageConfig"]),
    ("toolkit.pruning", ["PrunePlan", "channel_counts", "prune_once", "search_ratio"]),
    ("toolkit.pruning.sensitivity", ["analyze_pruning", "pruning_table"]),
])
def test_old_import_paths_still_give_their_public_names(alias, names):
    import importlib

    module = importlib.import_module(alias)
    assert [n for n in names if not hasattr(module, n)] == []
