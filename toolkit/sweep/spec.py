"""A recipe's `sweep:` section, read with the recipe's own bounded YAML loader and checked whole before any compute.

The recipe schema knows no `sweep:` key, so the section is taken out of the raw mapping and the rest is validated
as a recipe; then every value of every dimension (both ends of a range) is applied to the recipe, as `--set` does,
and the variant validated through the same loader: a wrong path, type or value is refused before a trial runs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from toolkit.config import StrictModel
from toolkit.errors import RecipeError, UserInputError
from toolkit.fsutil import stable_hash
from toolkit.recipe import Recipe, apply_overrides, parse_recipe, read_yaml
from toolkit.recipe.problems import problems_from

RESERVED = ("name", "output", "sweep")  # the sweep names each trial's run and places it itself
_MISSING = object()


class Range(StrictModel):
    """A sampled dimension: numbers from `low` to `high` (integers when the field takes integers)."""

    low: int | float
    high: int | float
    log: bool = Field(False, description="sample on a log scale (low > 0)")
    step: int | float | None = Field(None, gt=0, description="sample on this grid of steps from low")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log needs low > 0 and no step")
        return self


class P50(StrictModel):
    """Median latency on one runtime and batch size, minimised."""

    runtime: str
    batch_size: int = Field(1, ge=1)


class Objectives(StrictModel):
    """What the sweep optimises: top-1 up, p50 down, model size down (any of them, at least one)."""

    top1: Literal["max"] | None = None
    p50: P50 | None = None
    size_bytes: Literal["min"] | None = None


class SweepSection(StrictModel):
    """The recipe's `sweep:` section as written."""

    dimensions: dict[str, Any] = Field(min_length=1)
    objectives: Objectives | None = None
    trials: int | None = Field(None, ge=1, le=100_000)
    sampler: Literal["grid", "nsga2", "tpe"] | None = None


@dataclass(frozen=True)
class Dimension:
    """One recipe path the sweep varies: a list of values (grid), or a range."""

    path: str
    values: list[Any] | None = None
    range: Range | None = None
    integer: bool = False


@dataclass(frozen=True)
class Objective:
    """One objective: `name` is top1, p50 or size_bytes; p50 names its runtime and batch size."""

    name: str
    direction: str
    runtime: str | None = None
    batch_size: int | None = None

    @property
    def label(self) -> str:
        """How tables and lines name it."""
        return f"p50 {self.runtime} b{self.batch_size} (ms)" if self.name == "p50" else self.name


@dataclass
class SweepPlan:
    """A checked sweep: the recipe without its section, the base recipe, dimensions, objectives and budget."""

    source: Path
    raw: dict[str, Any]
    recipe: Recipe
    dimensions: list[Dimension]
    objectives: list[Objective]
    sampler: str
    budget: int
    fingerprint: str

    @property
    def sweep_dir(self) -> Path:
        """`<recipe output>/<recipe name>-sweep`: the journal, the summary and the trials' run folders."""
        return Path(self.recipe.output) / f"{self.recipe.name}-sweep"

    @property
    def grid_size(self) -> int | None:
        """Points of the grid, or None when a dimension is a range."""
        if any(d.values is None for d in self.dimensions):
            return None
        return math.prod(len(d.values or ()) for d in self.dimensions)

    def trial_recipe(self, run_name: str, params: dict[str, Any]) -> Recipe:
        """The recipe of one trial: the dimensions' values applied, its run folder `<sweep>/runs/<run_name>`.

        Raises RecipeError if the variant is invalid (the values were checked one by one; a combination may
        still be refused, e.g. by a stage's cross-field check)."""
        values = {**params, "name": run_name, "output": str(self.sweep_dir / "runs")}
        return _variant(self.raw, values, self.source)


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted recipe path (`stages.1.prune.target.ratio`) as `--set` would, but keeping the
    value's type exactly (a YAML round trip of text would read 1e-05 as a string)."""
    apply_overrides(raw, [f"{path}=0"])  # creates the path or names the list item it lacks
    node: Any = raw
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(parts[-1]) if isinstance(node, list) else parts[-1]] = copy.deepcopy(value)


def _variant(raw: dict[str, Any], values: dict[str, Any], source: Path) -> Recipe:
    changed = copy.deepcopy(raw)
    for path, value in values.items():
        _set(changed, path, value)
    return parse_recipe(changed, source=str(source), base_dir=source.parent)


def _value_at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return _MISSING
    return data


def _first_problem(exc: RecipeError, prefix: str = "") -> str:
    """A RecipeError's first problem as one line (`path: message`), noting how many more there are."""
    path, message = exc.problems[0] if exc.problems else ("", str(exc))
    path = prefix + path.removeprefix("--set ") if path else prefix.rstrip(".")
    message = message.removeprefix("Value error, ")
    more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
    return (f"{path}: {message}" if path else message) + more


class _Refuse:
    """Builds the one-line errors of one recipe file."""

    def __init__(self, source: Path):
        self.source = source

    def __call__(self, where: str, message: str) -> UserInputError:
        return UserInputError(f"invalid sweep in {self.source}: {where}: {message}")


def _check_value(refuse: _Refuse, plan_raw: dict[str, Any], path: str, value: Any) -> Recipe:
    try:
        return _variant(plan_raw, {path: value}, refuse.source)
    except RecipeError as exc:
        raise refuse(f"sweep.dimensions.{path}", f"the value {value!r} is refused: {_first_problem(exc)}") from None


def _dimension(refuse: _Refuse, raw: dict[str, Any], base: Recipe, path: Any, spec: Any) -> Dimension:
    where = f"sweep.dimensions.{path}"
    if not isinstance(path, str) or not path or "=" in path or path.split(".")[0] in RESERVED:
        raise refuse(where, f"not a recipe path the sweep can vary ({', '.join(RESERVED)} are its own)")
    if isinstance(spec, list):
        if not spec:
            raise refuse(where, "an empty list of values; give at least one")
        for value in spec:
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise refuse(where, f"{value!r}: grid values are numbers, text, true/false or null")
            _check_value(refuse, raw, path, value)
        if len({repr(v) for v in spec}) < len(spec):
            raise refuse(where, "a value is listed twice")
        return Dimension(path, values=list(spec))
    if not isinstance(spec, dict):
        raise refuse(where, "a list of values (grid) or a range {low, high, log, step}")
    try:
        span = Range.model_validate(spec)
    except ValidationError as exc:
        raise UserInputError(f"invalid sweep in {refuse.source}: "
                             f"{_first_problem(RecipeError(problems_from(exc, Range)), where + '.')}") from None
    current = _value_at(base.to_dict(), path)
    if isinstance(current, str) or isinstance(current, bool):
        raise refuse(where, f"a range needs a numeric field; this one takes {type(current).__name__} "
                            f"(currently {current!r}): list the values instead")
    ends = [_value_at(_check_value(refuse, raw, path, v).to_dict(), path) for v in (span.low, span.high)]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in ends):
        raise refuse(where, "a range needs a numeric field: list the values instead")
    integer = all(isinstance(v, int) for v in ends) and isinstance(span.step, (int, type(None)))
    return Dimension(path, range=span, integer=integer)


def _objectives(refuse: _Refuse, section: SweepSection, recipe: Recipe) -> list[Objective]:
    measure = recipe.measure
    chosen = section.objectives or Objectives(top1="max", p50=P50(runtime=measure.runtimes[0],
                                                                  batch_size=measure.batch_sizes[0]))
    found = []
    if chosen.top1:
        if not measure.accuracy:
            raise refuse("sweep.objectives.top1", "measure.accuracy is false: no top-1 is measured")
        found.append(Objective("top1", "maximize"))
    if chosen.p50 is not None:
        if chosen.p50.runtime not in measure.runtimes:
            raise refuse("sweep.objectives.p50.runtime", f"'{chosen.p50.runtime}' is not in measure.runtimes "
                                                         f"({', '.join(measure.runtimes)})")
        if chosen.p50.batch_size not in measure.batch_sizes:
            raise refuse("sweep.objectives.p50.batch_size", f"{chosen.p50.batch_size} is not in measure.batch_sizes "
                                                            f"({', '.join(map(str, measure.batch_sizes))})")
        found.append(Objective("p50", "minimize", chosen.p50.runtime, chosen.p50.batch_size))
    if chosen.size_bytes:
        found.append(Objective("size_bytes", "minimize"))
    if not found:
        raise refuse("sweep.objectives", "name at least one of top1, p50, size_bytes")
    return found


def load_sweep(path: str | Path) -> SweepPlan:
    """Read a recipe with a `sweep:` section and check all of it; no compute, no Optuna.

    Raises RecipeError for a problem in the recipe itself (as `compress validate` lists them) and UserInputError,
    one line naming the field, for a problem in the sweep section or in a dimension's values."""
    source = Path(path)
    raw = read_yaml(source)
    refuse = _Refuse(source)
    if not isinstance(raw, dict) or not isinstance(raw.get("sweep"), dict):
        raise refuse("sweep", "the recipe has no sweep: section (a mapping with dimensions; see docs/sweep.md)")
    raw = dict(raw)
    section_raw = raw.pop("sweep")
    recipe = parse_recipe(copy.deepcopy(raw), source=str(source), base_dir=source.parent)
    try:
        section = SweepSection.model_validate(section_raw)
    except ValidationError as exc:
        raise UserInputError(f"invalid sweep in {source}: "
                             f"{_first_problem(RecipeError(problems_from(exc, SweepSection)), 'sweep.')}") from None
    dimensions = [_dimension(refuse, raw, recipe, p, s) for p, s in section.dimensions.items()]
    ranged = [d.path for d in dimensions if d.range is not None]
    sampler = section.sampler or ("nsga2" if ranged else "grid")
    if sampler == "grid" and ranged:
        raise refuse("sweep.sampler", f"grid needs a list of values for every dimension; sweep.dimensions."
                                      f"{ranged[0]} is a range: use nsga2 or tpe")
    grid = math.prod(len(d.values or ()) for d in dimensions)
    if sampler == "grid" and section.trials is not None and section.trials > grid:
        raise refuse("sweep.trials", f"{section.trials} is more than the grid's {grid} points")
    if section.trials is None and ranged:
        raise refuse("sweep.trials", "required when a dimension is a range (a sampled search has no natural size)")
    objectives = _objectives(refuse, section, recipe)
    identity = {"recipe": raw, "sweep": {k: v for k, v in section_raw.items() if k != "trials"}}
    return SweepPlan(source, raw, recipe, dimensions, objectives, sampler, section.trials or grid,
                     stable_hash(identity))
