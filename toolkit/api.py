"""The Python API: the same pipeline as `compress run`, with your own model, data and stages.

Every public entry point checks its arguments the way a recipe is checked: a wrong type or value is a
UserInputError (a RecipeError for Pipeline) naming the argument and what was expected, never an AttributeError
from deep inside or a raw pydantic dump. `toolkit.load_model`, `toolkit.run_recipe` and the other functions the
package exports are the checked versions below of the functions of the same name in their modules.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.api_data import (
    Problems,
    add_problems,
    bundle_from_datasets,
    field_value,
    flag_problems,
    hooks_problems,
    optional_problem,
    overrides_problem,
    path_problem,
    refuse,
    shown,
    spec_of,
    type_problem,
)
from toolkit.config import DataSpec, MeasureSpec, ModelSpec, StageConfig
from toolkit.errors import RecipeError, UserInputError
from toolkit.fsutil import stable_hash
from toolkit.recipe import Recipe, check_names, check_stage_chain
from toolkit.recipe.parse import RecipeHead
from toolkit.registry import UnknownNameError

if TYPE_CHECKING:  # torch loads on first use: `from toolkit import get_stage, write_report` stays light
    from torch import nn

    from toolkit.data.bundle import DataBundle
    from toolkit.registry import StageInfo
    from toolkit.run.pipeline import RunResult
    from toolkit.runtimes.base import Runtime

IN_MEMORY = "<in-memory>"


def _stage_list(stages: Any, problems: Problems) -> list[StageConfig]:
    """The stage configs, each checked: a list of objects such as stages.Train(epochs=1)."""
    example = "[stages.Train(epochs=1)]"
    if isinstance(stages, StageConfig):
        problems.append(("stages", f"expected a list of stage configs; put the one stage in a list: {example}"))
        return []
    if not isinstance(stages, Sequence) or isinstance(stages, (str, bytes)):
        problems.append(("stages", f"expected a list of stage configs like {example}, not {shown(stages)}"))
        return []
    if not stages:
        problems.append(("stages", f"give at least one stage, e.g. {example}"))
    found = []
    for i, stage in enumerate(stages):
        if isinstance(stage, StageConfig):
            found.append(stage.model_copy())
        elif isinstance(stage, type) and issubclass(stage, StageConfig):
            problems.append((f"stages[{i}]", f"{stage.__name__} is a class: give an instance, {stage.__name__}()"))
        else:  # a recipe's `{train: {epochs: 1}}` is stages.Train(epochs=1) here
            problems.append((f"stages[{i}]", (f"expected a stage config such as stages.Train(epochs=1), "
                                              f"not {shown(stage)}")))
    return found


def _model_arg(model: Any, problems: Problems) -> tuple[nn.Module | None, ModelSpec | None]:
    from torch import nn

    if isinstance(model, nn.Module):
        return copy.deepcopy(model), ModelSpec(arch=IN_MEMORY)  # never change the caller's
    if isinstance(model, type) and issubclass(model, nn.Module):
        problems.append(("model", f"{model.__name__} is a class: give an instance, {model.__name__}()"))
        return None, None
    if isinstance(model, str):
        problems.append(("model", (f"expected an nn.Module, a dict like {{'arch': {model!r}}} or a ModelSpec, "
                                   f"not {shown(model)}")))
        return None, None
    return None, spec_of(ModelSpec, model, "model", problems, "{'arch': 'resnet18'}")


def _data_arg(data: Any, problems: Problems) -> tuple[DataSpec | None, tuple[Any, Any] | None]:
    if data is None:
        return DataSpec(), None
    if isinstance(data, (dict, DataSpec)):
        return spec_of(DataSpec, data, "data", problems, "{'dataset': 'digits'}"), None
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return None, (data[0], data[1])
    problems.append(("data", (f"expected a (train, val) pair of Datasets or DataLoaders, or a data spec like "
                              f"{{'dataset': 'digits'}}, not {shown(data)}")))
    return None, None


class Pipeline:
    """A pipeline from Python: model (module or spec), data (datasets or spec), stages (config objects).

    Raises RecipeError (a UserInputError) listing every argument that is wrong, each by its name (`model`,
    `stages[1]`, `data.dataset`, `batch_size`, `measure.runtimes[0]`, ...), and UserInputError for datasets
    that cannot be used.
    """

    def __init__(self, model: nn.Module | dict | ModelSpec, stages: Sequence[StageConfig],
                 data: Any = None, measure: MeasureSpec | dict | None = None, *, seed: int = 0,
                 num_classes: int | None = None, data_version: str | None = None, device: str = "auto",
                 batch_size: int = 64):
        problems: Problems = []
        self.module, spec = _model_arg(model, problems)
        self.stages = _stage_list(stages, problems)
        data_spec, pair = _data_arg(data, problems)
        measure_spec = spec_of(MeasureSpec, {} if measure is None else measure, "measure", problems,
                               "{'runtimes': ['onnxruntime-cpu'], 'batch_sizes': [1]}")
        self.seed = field_value(RecipeHead, "seed", seed, "seed", problems)
        self.device = field_value(RecipeHead, "device", device, "device", problems)
        num_classes = field_value(ModelSpec, "num_classes", num_classes, "num_classes", problems)
        batch_size = field_value(DataSpec, "batch_size", batch_size, "batch_size", problems)
        add_problems(problems, data_version=optional_problem(data_version, (str,), "a str"))
        if problems:
            raise RecipeError(problems, "Pipeline")
        self.data_version, self.measure, self.model_spec = data_version, measure_spec, spec
        self.bundle = None
        if pair is None:
            self.data_spec = data_spec
        else:
            self.bundle = bundle_from_datasets(pair[0], pair[1], num_classes, batch_size)
            shape = self.bundle.input_shape
            self.data_spec = DataSpec(dataset=IN_MEMORY, image_size=shape.image_size, channels=shape.channels,
                                      batch_size=batch_size)
        raw: dict[str, Any] = {"measure": self.measure.model_dump(mode="json")}
        if self.module is None:
            raw["model"] = self.model_spec.model_dump(mode="json", exclude_none=True)
        if self.bundle is None:
            raw["data"] = self.data_spec.model_dump(mode="json", exclude_none=True)
        problems = check_names(raw, Path.cwd()) + check_stage_chain(self.stages)
        if problems:
            raise RecipeError(problems, "Pipeline")

    def recipe(self, run_dir: str | Path) -> Recipe:
        """The recipe this pipeline amounts to (what recipe.yaml in the run folder will say).

        Raises UserInputError when `run_dir` is not a path whose last part can name a run."""
        problems: Problems = []
        _run_dir_arg(run_dir, problems)
        refuse("Pipeline.recipe", problems)
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

    def run(self, run_dir: str | Path, *, fresh: bool = False, console: Any = None,
            hooks: dict[str, list[Callable[..., Any]]] | None = None, progress: bool | None = None) -> RunResult:
        """Run into `run_dir` (same folder layout, caching, measurements and report as the CLI).

        Progress (stage lines, epochs, progress bars) shows by default in a terminal and in notebooks;
        `progress=False` silences it, `progress=True` forces it; `console=` takes your own rich Console.
        `hooks` maps an event ('epoch_end') to functions called with its payload. Raises UserInputError naming
        the argument when one is of the wrong kind, and the run's own ToolkitErrors.
        """
        problems: Problems = []
        _run_dir_arg(run_dir, problems)
        flag_problems({"fresh": fresh}, problems)
        if progress is not None:
            flag_problems({"progress": progress}, problems)
        if console is not None and not callable(getattr(console, "print", None)):
            problems.append(("console", (f"expected a rich Console (anything with .print) or None, not "
                                         f"{shown(console)}")))
        hooks_problems(hooks, problems)
        refuse("Pipeline.run", problems)
        if console is None:
            from toolkit.progress import default_console

            console = default_console(progress)
        source_key, cacheable = self._source_key()
        if not cacheable:
            notice = ("caching is off for this run: in-memory datasets need data_version= to be cached safely")
            (console.print if console is not None else print)(notice)
        model = copy.deepcopy(self.module) if self.module is not None else None  # stages change it in place
        from toolkit.run.pipeline import Runner

        runner = Runner(self.recipe(Path(run_dir)), console=console, fresh=fresh, hooks=hooks, model=model,
                         data=self.bundle, source_key=source_key, cacheable=cacheable)
        return runner.run()


def _run_dir_arg(run_dir: Any, problems: Problems) -> None:
    problem = path_problem(run_dir)
    if problem:
        problems.append(("run_dir", problem))
        return
    name_problems: Problems = []
    field_value(RecipeHead, "name", Path(run_dir).name, "run_dir", name_problems)
    if name_problems:  # the folder's name is the run's name
        problems.append(("run_dir", (f"the folder name {Path(run_dir).name!r} cannot name a run (letters, "
                                     f"digits, '.', '_' and '-')")))


def load_model(path: str | Path, base_model: nn.Module | None = None, *, trust_code: bool = False,
               allowed_arch: str | None = None) -> nn.Module:
    """Rebuild a saved model (a stage folder, or its model.safetensors) from code: toolkit.models.load_model.

    Raises UserInputError naming a wrong argument, ArtifactError for missing, truncated or tampered files.
    """
    from torch import nn

    problems: Problems = []
    add_problems(problems, path=path_problem(path),
                 base_model=optional_problem(base_model, (nn.Module,), "the nn.Module the run was made from"),
                 allowed_arch=optional_problem(allowed_arch, (str,), "an architecture name"))
    flag_problems({"trust_code": trust_code}, problems)
    refuse("load_model", problems)
    from toolkit.models import load_model as load

    return load(Path(path), base_model, trust_code=trust_code, allowed_arch=allowed_arch)


def load_recipe(path: str | Path, overrides: list[str] | None = None, *, check_paths: bool = True) -> Recipe:
    """Load, override and validate a recipe file (toolkit.recipe.load_recipe).

    Raises UserInputError naming a wrong argument, RecipeError listing the recipe's problems."""
    problems: Problems = []
    add_problems(problems, path=path_problem(path), overrides=overrides_problem(overrides))
    flag_problems({"check_paths": check_paths}, problems)
    refuse("load_recipe", problems)
    from toolkit.recipe import load_recipe as load

    return load(Path(path), list(overrides) if overrides is not None else None, check_paths=check_paths)


def run_recipe(recipe: Recipe | dict | str | Path, *, overrides: list[str] | None = None, fresh: bool = False,
               console: Any = None, hooks: dict[str, list[Callable[..., Any]]] | None = None, strict: bool = False,
               command_started: float | None = None) -> RunResult:
    """Run a Recipe, a recipe mapping or a recipe file like `compress run`: toolkit.run.pipeline.run_recipe.

    Raises UserInputError naming a wrong argument, RecipeError listing a recipe's problems, and the run's own
    ToolkitErrors."""
    problems: Problems = []
    if not isinstance(recipe, (Recipe, dict)) and path_problem(recipe):
        problems.append(("recipe", f"expected a Recipe, a recipe dict or a recipe file, not {shown(recipe)}"))
    add_problems(problems, overrides=overrides_problem(overrides),
                 command_started=optional_problem(command_started, (int, float), "a time.time() value"))
    flag_problems({"fresh": fresh, "strict": strict}, problems)
    if console is not None and not callable(getattr(console, "print", None)):
        problems.append(("console", f"expected a rich Console or None, not {shown(console)}"))
    hooks_problems(hooks, problems)
    refuse("run_recipe", problems)
    from toolkit.run.pipeline import run_recipe as run

    if isinstance(recipe, dict):
        from toolkit.recipe import parse_recipe

        recipe = parse_recipe(recipe, source="run_recipe(recipe=...)")
    elif not isinstance(recipe, Recipe):
        recipe = Path(recipe)
    return run(recipe, overrides=list(overrides) if overrides is not None else None, fresh=fresh, console=console,
               hooks=hooks, strict=strict, command_started=command_started)


def build_model(spec: ModelSpec | dict, num_classes: int | None = None, image_size: int | tuple[int, int] = 32,
                channels: int = 3, *, load_weights: bool = True) -> nn.Module:
    """Build a network from a model spec ({'arch': 'resnet18'} or a ModelSpec): toolkit.models.build_model, for
    images of `image_size` (an int: square; or (height, width)) and `channels` (1 or 3), as data.image_size and
    data.channels in a recipe.

    Raises UserInputError naming a wrong argument (`spec.arch: Field required`), and the factory's ToolkitErrors."""
    problems: Problems = []
    checked = spec_of(ModelSpec, spec, "spec", problems, "{'arch': 'resnet18'}")
    field_value(ModelSpec, "num_classes", num_classes, "num_classes", problems)
    size = field_value(DataSpec, "image_size", image_size, "image_size", problems)
    field_value(DataSpec, "channels", channels, "channels", problems)
    flag_problems({"load_weights": load_weights}, problems)
    refuse("build_model", problems)
    from toolkit.config import InputShape
    from toolkit.models import build_model as build

    return build(checked, num_classes, InputShape.of(size, channels), load_weights=load_weights)


def build_data(spec: DataSpec | dict, seed: int = 0) -> DataBundle:
    """The DataBundle of a data spec ({'dataset': 'digits'} or a DataSpec): toolkit.data.build_data.

    Raises UserInputError naming a wrong argument (`spec.dataset: unknown dataset`), DataError for unusable data."""
    problems: Problems = []
    checked = spec_of(DataSpec, spec, "spec", problems, "{'dataset': 'digits'}")
    field_value(RecipeHead, "seed", seed, "seed", problems)
    if checked is not None:  # the names a recipe's data: is checked for (dataset, root), as `spec.dataset`
        names = check_names({"data": checked.model_dump(mode="json", exclude_none=True)}, Path.cwd())
        problems += [("spec" + path.removeprefix("data"), message) for path, message in names]
    refuse("build_data", problems)
    from toolkit.data import build_data as build

    return build(checked, seed)


def _named(kind: str, name: Any, lookup: Callable[[str], Any]) -> Any:
    if not isinstance(name, str):
        raise UserInputError(f"get_{kind}: name: expected a {kind} name (a str), not {shown(name)}")
    try:
        return lookup(name)
    except UnknownNameError as exc:
        raise UserInputError(f"get_{kind}: name: {exc}") from exc


def get_runtime(name: str) -> Runtime:
    """The runtime registered as `name` (e.g. 'onnxruntime-cpu'): toolkit.runtimes.get_runtime.

    Raises UserInputError for a name that is not a str or not registered (it lists the known ones)."""
    from toolkit.runtimes import get_runtime as get

    return _named("runtime", name, get)


def get_stage(name: str) -> StageInfo:
    """The stage registered as `name` (its config class and function): toolkit.stages.get_stage.

    Raises UserInputError for a name that is not a str or not registered (it lists the known ones)."""
    from toolkit.stages import get_stage as get

    return _named("stage", name, get)


def write_report(run_dirs: Sequence[str | Path] | str | Path, out: str | Path) -> Path:
    """(Re)build the HTML report of one run folder or several: toolkit.report.write_report.

    Raises UserInputError naming a wrong argument or a folder that is not a readable run, ToolkitError when the
    files cannot be written."""
    problems: Problems = []
    folders = [run_dirs] if isinstance(run_dirs, (str, os.PathLike)) else run_dirs
    if not isinstance(folders, (list, tuple)) or not folders:
        problems.append(("run_dirs", f"expected a run folder or a list of them, not {shown(run_dirs)}"))
    else:
        add_problems(problems, **{f"run_dirs[{i}]": path_problem(d) for i, d in enumerate(folders)})
    add_problems(problems, out=path_problem(out))
    refuse("write_report", problems)
    from toolkit.report import write_report as write

    return write([Path(d) for d in folders], Path(out))


def model_fingerprint(model: nn.Module) -> str:
    """Content hash of a torch model (class, structure and every weight): the cache key of an in-memory model.

    Raises UserInputError when `model` is not an nn.Module."""
    from torch import nn

    from toolkit.models.fingerprint import model_fingerprint as fingerprint

    problem = type_problem(model, (nn.Module,), "an nn.Module")
    if problem:
        raise UserInputError(f"model_fingerprint: model: {problem}")
    return fingerprint(model)
