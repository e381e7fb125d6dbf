"""Run a recipe: validate, pre-flight, then each stage with content-keyed caching, resume and measurement."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toolkit.artifacts import Model
from toolkit.context import EarlierStage, StageContext, StageLog, StageResult
from toolkit.errors import RecipeError, ToolkitError
from toolkit.fsutil import atomic_write_text, file_hash, run_lock, stable_hash
from toolkit.measure.device import describe_device
from toolkit.recipe import Recipe
from toolkit.records import Record
from toolkit.registry import get_stage
from toolkit.runfolder import RunFolder
from toolkit.stage_runner import StageOutcome, load_output, remeasure, run_stage, seed_everything
from toolkit.version import __version__


@dataclass
class RunResult:
    """The outcome of a run: its folder, each stage's outcome and metrics, and the report path."""

    run_dir: Path
    stages: list[StageOutcome]
    status: str
    report_path: Path | None = None
    _loaders: dict[str, Callable[[], Model]] = field(default_factory=dict, repr=False)

    @property
    def metrics(self) -> dict[str, Record]:
        """metrics.json of each stage, by stage name, with attribute access (`.accuracy.top1`)."""
        return {s.name: Record(s.metrics) for s in self.stages}

    def model(self, name: str) -> Model:
        """Load the model a stage produced (a torch module or a model file)."""
        if name not in self._loaders:
            raise KeyError(f"no stage '{name}' in this run; stages: {', '.join(self._loaders)}")
        return self._loaders[name]()


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; an unavailable CUDA request is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RecipeError([("device", f"'{name}' requested but torch sees no CUDA device")])
    return torch.device(name)


class Pipeline:
    """Runs a validated recipe into its run folder."""

    def __init__(self, recipe: Recipe, *, console=None, fresh: bool = False,
                 hooks: dict[str, list[Callable[..., Any]]] | None = None,
                 model: nn.Module | None = None, data=None, source_key: str | None = None, cacheable: bool = True):
        self.recipe, self.console, self.fresh, self.cacheable = recipe, console, fresh or not cacheable, cacheable
        self.hooks = hooks or {}
        self.user_model, self.user_data, self.source_key = model, data, source_key
        self.folder = RunFolder(recipe.run_dir)

    def _input_key(self) -> str:
        model = self.recipe.model.model_dump(mode="json")
        if self.recipe.model.checkpoint is not None:
            model["checkpoint_sha256"] = file_hash(Path(self.recipe.model.checkpoint))
        data = self.recipe.data.model_dump(mode="json", exclude={"workers", "eval_batch_size"})
        return stable_hash({"model": model, "data": data, "seed": self.recipe.seed, "toolkit": __version__,
                            "source": self.source_key})

    def _preflight(self):
        """Build data and the input model, and run one image through it, before anything is written."""
        from toolkit.data import build_data
        from toolkit.models import build_model

        device = resolve_device(self.recipe.device)
        data = self.user_data or build_data(self.recipe.data, self.recipe.seed)
        wanted = self.recipe.model.num_classes
        if wanted is not None and wanted != data.num_classes:
            raise RecipeError([("model.num_classes", f"is {wanted} but the data set has {data.num_classes} classes")])
        seed_everything(self.recipe.seed)  # the input model's initial weights depend on the seed only
        model = self.user_model or build_model(self.recipe.model, data.num_classes, data.image_size)
        try:
            with torch.no_grad():
                out = model.eval()(data.example_input(1))
        except RuntimeError as exc:
            raise RecipeError([("data.image_size", f"{self.recipe.model.arch} cannot take {data.image_size}x"
                                                   f"{data.image_size} inputs: {str(exc).splitlines()[0]}")]) from None
        if out.ndim != 2 or out.shape[1] != data.num_classes:
            raise RecipeError([("model", f"{self.recipe.model.arch} outputs shape {tuple(out.shape)}; "
                                         f"expected (batch, {data.num_classes}) logits")])
        return device, data, model

    def _model_spec(self, data) -> dict[str, Any]:
        spec = self.recipe.model.model_dump(mode="json")
        spec.update(weights=None, checkpoint=None)  # weights come from the saved file, not from these
        return {"model": spec, "num_classes": data.num_classes, "image_size": data.image_size}

    def run(self) -> RunResult:
        """Run every stage (cached ones are loaded, not recomputed); returns the RunResult."""
        device, data, input_model = self._preflight()
        recipe, folder = self.recipe, self.folder
        stages = list(recipe.stages)
        with_input = stages[0].stage_type != "train"
        plan = ([(0, "input")] if with_input else []) + [(i + 1, s.name) for i, s in enumerate(stages)]
        measure_key = stable_hash(recipe.measure.model_dump(mode="json"))
        base_model = self.user_model
        started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.perf_counter()
        outcomes: list[StageOutcome] = []
        loaders: dict[str, Callable[[], Model]] = {}
        run_info = {"name": recipe.name, "toolkit_version": __version__, "status": "running", "started": started,
                    "finished": None, "seconds": None, "device": describe_device(), "data": data.describe(),
                    "stages": [], "report": None,
                    "planned": [{"index": i, "name": n, "type": stages[i - 1].stage_type if i else "input"}
                                for i, n in plan]}
        with run_lock(folder.root):
            removed = folder.cleanup(plan)
            atomic_write_text(folder.root / "recipe.yaml", recipe.to_yaml())
            folder.write_run(run_info)
            current: Model | None = input_model
            previous: Callable[[], Model] = lambda: input_model  # noqa: E731
            key = self._input_key()
            earlier: list[EarlierStage] = []
            try:
                for index, name in plan:
                    cfg = stages[index - 1] if index else None
                    stage_type = cfg.stage_type if cfg else "input"
                    if cfg is not None:
                        key = stable_hash({"input": key, "stage": stage_type, "config": cfg.key_dict(),
                                           "context": cfg.key_context(recipe), "toolkit": __version__})
                    ctx = self._context(index, name, data, device, earlier)
                    cached = None if self.fresh else folder.cached(index, name, key)
                    if cached is not None:
                        directory = folder.stage_dir(index, name)
                        loader = self._disk_loader(directory, cached)
                        if cached.get("measure_key") != measure_key:
                            ctx.stage_dir, ctx.log = directory, StageLog(directory / "log.txt", self.console, name)
                            cached = remeasure(directory, cached, loader(), ctx, measure_key)
                        outcome = StageOutcome(index, name, stage_type, directory, key, "ok", True,
                                               float(cached.get("seconds", 0.0)), None,
                                               cached["model"]["format"], cached)
                        self._say(f"{directory.name}: cached")
                        current = None
                    else:
                        model = current if current is not None else previous()
                        ctx.stage_dir = folder.begin(index, name, key)
                        ctx.log = StageLog(ctx.stage_dir / "log.txt", self.console, f"[{index:02d}-{name}]")
                        fn = get_stage(stage_type).fn if cfg else (lambda m, c, x: StageResult(m))
                        outcome, current = run_stage(fn, cfg, model, ctx, folder, stage_type, key, measure_key,
                                                     base_model)
                        loader = self._disk_loader(outcome.directory, outcome.metrics) \
                            if outcome.status == "ok" else previous
                    previous = loader
                    outcomes.append(outcome)
                    loaders[name] = loader
                    earlier.append(EarlierStage(index, name, stage_type, outcome.directory,
                                                outcome.format or "torch", loader))
                    run_info["stages"] = [o.summary() for o in outcomes]
                    folder.write_run(run_info)
            except BaseException as exc:
                run_info["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                run_info["error"] = str(exc) or type(exc).__name__
                run_info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                folder.write_run(run_info)
                raise
            run_info.update(status="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                            seconds=round(time.perf_counter() - t0, 3), removed_stale=removed)
            report_path = self._report(run_info)
            folder.write_run(run_info)
        return RunResult(folder.root, outcomes, "complete", report_path, loaders)

    def _report(self, run_info: dict[str, Any]) -> Path | None:
        try:
            from toolkit.report import write_report
        except ImportError:
            return None
        path = write_report([self.folder.root], self.folder.root / "report.html")
        run_info["report"] = path.name
        return path

    def _context(self, index: int, name: str, data, device, earlier) -> StageContext:
        data_key = stable_hash({"data": self.recipe.data.model_dump(mode="json"), "source": self.source_key,
                                "seed": self.recipe.seed})
        return StageContext(data_key=data_key, cache_ok=self.cacheable,
            recipe=self.recipe, data=data, device=device, seed=self.recipe.seed * 1000 + index, index=index,
            name=name, stage_dir=self.folder.partial_dir(index, name), run_dir=self.folder.root,
            log=StageLog(self.folder.stage_dir(index, name) / "log.txt", None, name),
            model_spec=self._model_spec(data), earlier=list(earlier), console=self.console, hooks=self.hooks,
            calibration_dir=Path("calibration"))

    def _disk_loader(self, directory: Path, metrics: dict[str, Any]) -> Callable[[], Model]:
        """Load a stage's model from its folder on each call (callers may change what they get)."""
        return lambda: load_output(directory, metrics, self.user_model)

    def _say(self, message: str) -> None:
        if self.console is not None:
            self.console.print(message, highlight=False, markup=False)


def run_recipe(recipe: Recipe | str | Path, *, overrides: list[str] | None = None, fresh: bool = False,
               console=None, hooks=None) -> RunResult:
    """Load (if a path) and run a recipe."""
    from toolkit.recipe import load_recipe

    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        raise ToolkitError("overrides apply to recipe files; change the Recipe object instead")
    return Pipeline(recipe, console=console, fresh=fresh, hooks=hooks).run()
