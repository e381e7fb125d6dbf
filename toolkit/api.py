"""The Python API: the same pipeline as `compress run`, with your own model, data and stages."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from toolkit.config import DataSpec, MeasureSpec, ModelSpec, StageConfig
from toolkit.errors import RecipeError
from toolkit.fsutil import stable_hash
from toolkit.models.fingerprint import model_fingerprint  # noqa: F401  (public here too)
from toolkit.recipe import Recipe, check_names, check_stage_chain
from toolkit.run.pipeline import Runner as _Runner
from toolkit.run.pipeline import RunResult

IN_MEMORY = "<in-memory>"


class Pipeline:
    """A pipeline from Python: model (module or spec), data (datasets or spec), stages (config objects)."""

    def __init__(self, model: nn.Module | dict | ModelSpec, stages: Sequence[StageConfig],
                 data: Any = None, measure: MeasureSpec | dict | None = None, *, seed: int = 0,
                 num_classes: int | None = None, data_version: str | None = None, device: str = "auto",
                 batch_size: int = 64):
        self.stages = [s.model_copy() for s in stages]
        self.seed, self.device, self.data_version = seed, device, data_version
        self.measure = MeasureSpec.model_validate(measure or {}) if not isinstance(measure, MeasureSpec) else measure
        self.module = copy.deepcopy(model) if isinstance(model, nn.Module) else None  # never change the caller's
        self.model_spec = ModelSpec(arch=IN_MEMORY) if self.module is not None else (
            model if isinstance(model, ModelSpec) else ModelSpec.model_validate(model))
        self.bundle = None
        if data is None or isinstance(data, (dict, DataSpec)):
            self.data_spec = DataSpec.model_validate(data or {}) if not isinstance(data, DataSpec) else data
        else:
            from toolkit.api_data import bundle_from_datasets

            pair = tuple(data)
            if len(pair) != 2:
                raise RecipeError([("data", "give a (train, val) pair of Datasets or DataLoaders, or a data spec")])
            self.bundle = bundle_from_datasets(pair[0], pair[1], num_classes, batch_size)
            self.data_spec = DataSpec(dataset=IN_MEMORY, image_size=self.bundle.image_size, batch_size=batch_size)
        raw: dict[str, Any] = {"measure": self.measure.model_dump(mode="json")}
        if self.module is None:
            raw["model"] = self.model_spec.model_dump(mode="json", exclude_none=True)
        if self.bundle is None:
            raw["data"] = self.data_spec.model_dump(mode="json", exclude_none=True)
        problems = check_names(raw, Path.cwd()) + check_stage_chain(self.stages)
        if problems:
            raise RecipeError(problems, "Pipeline")

    def recipe(self, run_dir: Path) -> Recipe:
        """The recipe this pipeline amounts to (what recipe.yaml in the run folder will say)."""
        run_dir = Path(run_dir)
        return Recipe(name=run_dir.name, seed=self.seed, device=self.device, model=self.model_spec,
                      data=self.data_spec, measure=self.measure, stages=[s.model_copy() for s in self.stages],
                      output=run_dir.parent)

    def _source_key(self) -> tuple[str | None, bool]:
        """Cache key of the in-memory inputs, and whether caching is safe at all."""
        parts: dict[str, Any] = {}
        if self.module is not None:
            parts["model"] = model_fingerprint(self.module)
        if self.bundle is not None:
            if self.data_version is None:
                return None, False
            parts["data"] = {"version": self.data_version, "train": len(self.bundle.train),
                             "val": len(self.bundle.val), "info": self.bundle.info.get("source")}
        return (stable_hash(parts) if parts else None), True

    def run(self, run_dir: str | Path, *, fresh: bool = False, console=None, hooks=None,
            progress: bool | None = None) -> RunResult:
        """Run into `run_dir` (same folder layout, caching, measurements and report as the CLI).

        Progress (stage lines, epochs, progress bars) shows by default in a terminal and in notebooks;
        `progress=False` silences it, `progress=True` forces it; `console=` takes your own rich Console.
        """
        if console is None:
            from toolkit.progress import default_console

            console = default_console(progress)
        source_key, cacheable = self._source_key()
        if not cacheable:
            notice = ("caching is off for this run: in-memory datasets need data_version= to be cached safely")
            (console.print if console is not None else print)(notice)
        model = copy.deepcopy(self.module) if self.module is not None else None  # stages change it in place
        runner = _Runner(self.recipe(Path(run_dir)), console=console, fresh=fresh, hooks=hooks, model=model,
                         data=self.bundle, source_key=source_key, cacheable=cacheable)
        return runner.run()
