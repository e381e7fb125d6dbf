"""The package's layering rules (docs/architecture.md), checked on its source: every import counts, including
imports inside functions and under TYPE_CHECKING, since a lazy import that closes a cycle is still a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "toolkit"
# A technique folder is any package folder with a stage.py (a new one is checked the moment it exists)
TECHNIQUES = tuple(sorted(p.parent.name for p in PACKAGE.glob("*/stage.py")))

# The floors of docs/architecture.md, lowest first: a unit (a folder, or a module at the top of the package)
# imports only units on its own floor or below. A new unit fails the test until it is given a floor here.
FLOORS: dict[str, int] = {
    **dict.fromkeys(("errors", "config", "registry", "artifacts", "records", "record_sections", "layout",
                     "distributed", "fsutil", "jsonsafe", "finite", "formatting", "version", "progress"), 0),  # base
    **dict.fromkeys(("data", "models", "runtimes"), 1),  # services
    "convert": 2,  # torch -> ONNX, with the parity check on ONNX Runtime
    "measure": 3,
    **dict.fromkeys(("site", "context"), 4),  # what a stage receives
    **dict.fromkeys(TECHNIQUES, 5),
    "stages": 6,  # the catalogue
    "recipe": 7,
    "report": 8,
    "run": 9,
    **dict.fromkeys(("api", "api_data", "bench"), 10),
    **dict.fromkeys(("analyze", "sweep"), 11),  # commands over runs (sweep/: `compress sweep`, not written yet)
    **dict.fromkeys(("cli", "__main__"), 12),
}
# The catalogue is the one package whose __init__ holds code by design (the list of built-in stages).
CODE_IN_INIT = {"toolkit.stages"}


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
    if path.name == "__init__.py":  # a face that loads names on first use (PEP 562) names its modules as text
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in MODULES:
                found.add(node.value)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def _with_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph as Python runs it: importing `toolkit.a.b` first runs the package `toolkit.a`'s __init__,
    unless the importer is inside that package already (its __init__ has run by then)."""
    full = {}
    for module, targets in graph.items():
        edges = set(targets)
        for target in targets:
            parts = target.split(".")
            for depth in range(2, len(parts)):
                package = ".".join(parts[:depth])
                if package in MODULES and not (module == package or module.startswith(package + ".")):
                    edges.add(package)
        full[module] = edges
    return full


def unit(module: str) -> str:
    """The floor unit of a module: its folder, or the module itself at the top of the package."""
    return module.split(".")[1] if "." in module else module


UNIT_EDGES = {(unit(m), unit(t)) for m, targets in GRAPH.items() for t in targets
              if "." in m and "." in t and unit(m) != unit(t)}


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


def test_the_package_has_no_import_cycle_counting_package_inits():
    assert _cycles(_with_packages(GRAPH)) == []


def test_every_unit_has_a_floor():
    assert {unit(m) for m in MODULES if "." in m} - set(FLOORS) == set()


def test_no_import_runs_back_up_a_floor():
    upward = sorted(f"{module} -> {target}" for module, targets in GRAPH.items() for target in targets
                    if "." in module and "." in target
                    and FLOORS.get(unit(module), 99) < FLOORS.get(unit(target), 99))
    assert upward == []


def test_no_two_units_import_each_other():
    assert sorted((a, b) for a, b in UNIT_EDGES if (b, a) in UNIT_EDGES and a < b) == []


def test_the_runner_sits_above_every_technique():
    assert all(FLOORS["run"] > FLOORS[technique] for technique in TECHNIQUES)


def test_a_package_init_is_a_face():
    """It hands names on (imports, __all__, PEP 562 hooks); its code lives in the package's modules."""
    allowed_functions = {"__getattr__", "__dir__"}
    offenders = []
    for module, path in MODULES.items():
        if path.name != "__init__.py" or module in CODE_IN_INIT:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in allowed_functions:
                offenders.append(f"{module}: def {node.name}")
            elif isinstance(node, (ast.ClassDef, ast.For, ast.While, ast.With, ast.Try)):
                offenders.append(f"{module}: {type(node).__name__}")
    assert offenders == []


def test_the_floor_checks_find_a_planted_upward_import():
    planted = {("prune", "run"), ("run", "prune")}
    assert any(FLOORS[a] < FLOORS[b] for a, b in planted)
    assert any((b, a) in planted for a, b in planted)


def test_the_package_cycle_finder_sees_an_init_that_imports_its_importer():
    graph = {"toolkit.report": {"toolkit.report.write"}, "toolkit.report.write": {"toolkit.run.timing"},
             "toolkit.run.timing": {"toolkit.report.plots"}, "toolkit.report.plots": set()}
    assert _cycles(_with_packages(graph)) == [["toolkit.report", "toolkit.report.write", "toolkit.run.timing"]]


def test_the_cycle_finder_finds_a_planted_cycle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(planted) == [["a", "b", "c"]]


def test_the_import_walker_sees_imports_inside_functions():
    assert "toolkit.models.factory" in GRAPH["toolkit.models.legacy"]  # imported inside legacy_renames


def test_only_the_catalogue_imports_a_stage_module():
    offenders = [(module, target) for module, targets in GRAPH.items() for target in targets
                 if target.endswith(".stage") and module != "toolkit.stages"]
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
def test_only_stage_modules_see_the_stage_context(technique):
    """Technique code takes plain arguments (a TrainingEnv where it trains): no `ctx` parameter or attribute."""
    offenders = {}
    for module, path in MODULES.items():
        if module.startswith(f"toolkit.{technique}.") and not module.endswith(".stage"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {a.arg for n in ast.walk(tree) if isinstance(n, ast.arg) for a in [n]} | \
                {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            seen = sorted(names & {"ctx", "StageContext", "StageSite"})
            if seen:
                offenders[module] = seen
    assert offenders == {}


@pytest.mark.parametrize("module", ["toolkit.report", "toolkit.stages", "toolkit.registry", "toolkit.records",
                                    "toolkit.data", "toolkit.models", "toolkit.runtimes", "toolkit.recipe"])
def test_reading_results_listing_stages_and_checking_names_do_not_import_torch(module):
    import subprocess
    import sys

    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'torchvision', 'onnx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout
    assert out.strip() == "[]"
