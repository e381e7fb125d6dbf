"""Recipes: load YAML, apply --set overrides, validate everything (schema and stage chain) before compute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, SerializeAsAny, ValidationError, create_model

from toolkit.artifacts import TORCH
from toolkit.config import NAME_PATTERN, DataSpec, MeasureSpec, ModelSpec, StageConfig, StrictModel
from toolkit.errors import RecipeError
from toolkit.recipe.names import check_names
from toolkit.recipe.problems import join_path, problems_from
from toolkit.registry import UnknownNameError
from toolkit.stages import get_stage


class ReportSpec(StrictModel):
    """What the report recommends: the fastest model within this accuracy budget."""

    max_accuracy_drop: float = Field(1.0, ge=0.0, le=100.0, description="top-1 points below the baseline")


class RecipeHead(StrictModel):
    """Every recipe key except `stages`."""

    name: str = Field(pattern=NAME_PATTERN, description="run name: the run folder is <output>/<name>")
    plugins: list[str] = Field(default_factory=list, description="your Python modules to import first (custom "
                                                                 "stages, models, data sets): code you trust")
    # numpy's and scikit-learn's seeds are 32-bit: a larger one would fail mid-run instead of here
    seed: int = Field(0, ge=0, le=2 ** 32 - 1, description="seeds data splits, shuffling, initialisation")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto: CUDA when available")
    model: ModelSpec = Field(description="the network to train and compress")
    data: DataSpec = Field(default_factory=DataSpec, description="where images come from and how they are batched")
    measure: MeasureSpec = Field(default_factory=MeasureSpec, description="how every stage's model is measured")
    report: ReportSpec = Field(default_factory=ReportSpec, description="what the report recommends")
    output: Path = Field(Path("runs"), description="root of run folders, relative to the working directory")


class Recipe(RecipeHead):
    """A whole, validated recipe."""

    stages: list[SerializeAsAny[StageConfig]] = Field(min_length=1)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        """Folder that relative input paths in the recipe are resolved against."""
        return self._base_dir

    @property
    def run_dir(self) -> Path:
        """The run folder of this recipe."""
        return Path(self.output) / self.name

    def model_post_init(self, context: Any) -> None:
        """Resolve each stage's cross-stage facts into its config (`cfg.resolved`), once the recipe is whole."""
        for stage in self.stages:
            stage._resolved = stage.resolve(self)

    def stage_names(self) -> list[str]:
        """Names of the stages in order (every name is set after validation)."""
        return [s.name or s.stage_type for s in self.stages]

    def to_dict(self) -> dict[str, Any]:
        """Plain data in the YAML form (`stages` as a list of {type: options})."""
        head = self.model_dump(mode="json", exclude={"stages"})
        head["stages"] = [{s.stage_type: s.model_dump(mode="json", by_alias=True)} for s in self.stages]
        return head

    def to_yaml(self) -> str:
        """The recipe as run, as YAML that `compress run` accepts again."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` merges a mapping; its keys may be overridden
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Read a YAML file of plain data (see yaml_limits: no tags, no duplicate keys, no bombs).

    Raises RecipeError naming the file and, where there is one, the value's path and line.
    """
    from toolkit.recipe.file_bounds import RecipeFileError, read_recipe_bytes
    from toolkit.recipe.yaml_limits import YamlRefused, load_bounded, yaml_error_line

    try:
        data = read_recipe_bytes(Path(path))
    except OSError as exc:
        raise RecipeError([("", f"cannot read recipe: {exc.strerror or exc}")], source=str(path)) from None
    except RecipeFileError as exc:
        raise RecipeError([("", str(exc))], source=str(path)) from None
    try:
        text = data.decode("utf-8-sig")
        if "\x00" in text:
            raise ValueError("NUL character")
    except ValueError:
        kind = "UTF-16 text" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "a binary file or another encoding"
        raise RecipeError([("", f"not a YAML text file ({kind}); save the recipe as UTF-8 text")],
                          source=str(path)) from None
    try:
        return load_bounded(text, _UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise RecipeError([("", f"not valid YAML: {yaml_error_line(exc)}")], source=str(path)) from None
    except YamlRefused as exc:
        raise RecipeError([(exc.path, str(exc))], source=str(path)) from None
    except RecursionError:
        raise RecipeError([("", "the YAML document nests too deeply")], source=str(path)) from None


def apply_overrides(raw: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Apply `a.b.0.c=value` overrides (values parsed as YAML, plain data only) to the raw recipe mapping.

    Raises RecipeError listing every override that is malformed, refused or names no place in the recipe.
    """
    from toolkit.recipe import yaml_limits as plain

    problems: list[tuple[str, str]] = []
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key or plain.control_character(key):
            problems.append(("--set", f"{item!r} is not of the form key.path=value"))
            continue
        try:
            value = plain.load_bounded(text) if text.strip() else None
        except plain.YamlRefused as exc:
            problems.append((f"--set {key}", f"the value {text!r} is refused: {exc}"))
            continue
        except (yaml.YAMLError, ValueError, RecursionError) as exc:
            reason = plain.yaml_error_line(exc) if isinstance(exc, yaml.YAMLError) else str(exc) or type(exc).__name__
            problems.append((f"--set {key}", f"the value {text!r} is not valid YAML ({reason})"))
            continue
        parts = key.split(".")
        node: Any = raw
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problems.append((f"--set {key}", f"'{where}': no list item {part} (the list has {len(node)})"))
                    break
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if not isinstance(node.get(part), (dict, list)):
                        node[part] = {}
                    node = node[part]
            else:
                problems.append((f"--set {key}", f"'{'.'.join(parts[:depth])}' is not a mapping or list"))
                break
    if problems:
        raise RecipeError(problems)
    return raw


def _parse_stages(raw_stages: Any) -> tuple[list[StageConfig], list[tuple[str, str]]]:
    """Turn `[{type: options}, ...]` into stage config objects, collecting every problem with its path."""
    if not isinstance(raw_stages, list):
        return [], [("stages", "must be a list like [{train: {epochs: 1}}, ...]")]
    stages, problems = [], []
    for i, entry in enumerate(raw_stages):
        where = f"stages[{i}]"
        if isinstance(entry, StageConfig):
            stages.append(entry.model_copy())
            continue
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            problems.append((where, "each stage is a mapping with one key, the stage type: '- train: {epochs: 1}'"))
            continue
        (stage_type, options), = entry.items()
        try:
            info = get_stage(str(stage_type))
        except UnknownNameError as exc:
            problems.append((where, str(exc)))
            continue
        if options is None:
            options = {}
        try:
            stages.append(info.config_cls.model_validate(options))
        except ValidationError as exc:
            problems += problems_from(exc, info.config_cls, f"{where}.{stage_type}")
    return stages, problems


def check_stage_chain(stages: list[StageConfig]) -> list[tuple[str, str]]:
    """Name stages, refuse duplicate names, and check each stage accepts the model format before it."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    explicit = {s.name for s in stages if s.name}
    for i, stage in enumerate(stages):
        if stage.name and stage.name in seen:
            problems.append((f"stages[{i}].{stage.stage_type}.name",
                             f"duplicate stage name '{stage.name}' (also stages[{seen[stage.name]}])"))
        if not stage.name:
            base, k = stage.stage_type, 2
            candidate = base
            while candidate in seen or candidate in explicit:
                candidate, k = f"{base}-{k}", k + 1
            stage.name = candidate
        seen.setdefault(stage.name, i)
    current, made_by = TORCH, "the input model"
    earlier: list[tuple[str, str, str]] = []
    for i, stage in enumerate(stages):
        info = get_stage(stage.stage_type)
        where = f"stages[{i}].{stage.stage_type}"
        if current not in info.needs:
            problems.append((where, f"needs a {' or '.join(sorted(info.needs))} model, but {made_by} "
                                    f"produced {current}; move it before that stage"))
        problems += [(join_path(where, [p]) if p else where, m) for p, m in stage.check_chain(earlier)]
        if info.makes is not None:
            current, made_by = info.makes, f"stages[{i}].{stage.stage_type}"
        earlier.append((stage.name or stage.stage_type, stage.stage_type, current))
    return problems


def _resolve_paths(head: RecipeHead, base_dir: Path) -> None:
    """Make recipe input paths absolute, relative to the recipe's folder."""
    if head.data.root is not None and not Path(head.data.root).is_absolute():
        head.data.root = (base_dir / head.data.root).resolve()
    if head.model.checkpoint is not None and not Path(head.model.checkpoint).is_absolute():
        head.model.checkpoint = (base_dir / head.model.checkpoint).resolve()
    from toolkit.models.user_code import resolve_code_dir

    resolve_code_dir(head.model, base_dir)


def load_plugins(modules: Any, base_dir: Path | None = None) -> list[tuple[str, str]]:
    """Import the recipe's `plugins:` (its folder is importable while they import); problems name the entry."""
    import importlib
    import sys

    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        return [("plugins", "a list of Python module names")]
    # The recipe's folder is on sys.path only while its plugins import (a plugin's own top-level imports of
    # sibling modules work); it is taken off again so that parsing a recipe leaves the process as it was.
    folder = str(Path(base_dir).resolve()) if base_dir is not None else None
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.append(folder)
    problems = []
    try:
        for i, module in enumerate(modules):
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - the user's module: report, do not crash
                problems.append((f"plugins[{i}]", f"cannot import '{module}': {type(exc).__name__}: {exc}"))
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    return problems


def parse_recipe(raw: Any, *, source: str | None = None, base_dir: Path | None = None,
                 check_paths: bool = True) -> Recipe:
    """Validate a raw recipe mapping whole; raise RecipeError listing every problem with its path.

    `check_paths=False` accepts input paths that do not exist here (a run folder copied to another machine).
    """
    if not isinstance(raw, dict):
        raise RecipeError([("", "a recipe is a YAML mapping with keys name, model, data, measure, stages")], source)
    raw = dict(raw)
    problems_plugins = load_plugins(raw.get("plugins") or [], base_dir)
    if problems_plugins:
        raise RecipeError(problems_plugins, source)
    has_stages = "stages" in raw
    stages, problems = _parse_stages(raw.pop("stages", []))
    if not has_stages:
        problems.insert(0, ("stages", "Field required"))
    head = None
    base = (base_dir or Path.cwd()).resolve()
    try:
        head = RecipeHead.model_validate(raw)
        _resolve_paths(head, base)
    except ValidationError as exc:
        problems = problems_from(exc, RecipeHead) + problems
    problems += check_names(raw, base, check_paths)
    for i, stage in enumerate(stages):
        found = [(f"stages[{i}].{stage.stage_type}.{f}", m) for f, m in stage.resolve_paths(base)]
        problems += found if check_paths else []
    if not problems:
        if not stages:
            problems.append(("stages", "at least one stage is needed"))
        problems += check_stage_chain(stages)
    if problems:
        raise RecipeError(problems, source)
    recipe = Recipe(**dict(head), stages=stages)
    recipe._base_dir = base
    for i, stage in enumerate(stages):  # checks that need the whole recipe (e.g. quantize's resolved scheme)
        where = f"stages[{i}].{stage.stage_type}"
        problems += [(join_path(where, [p]) if p else where, m) for p, m in stage.check_recipe(recipe)]
    if problems:
        raise RecipeError(problems, source)
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None, *, check_paths: bool = True) -> Recipe:
    """Load, override and validate a recipe file."""
    path = Path(path)
    raw = read_yaml(path)
    if overrides:
        if not isinstance(raw, dict):
            raise RecipeError([("", "a recipe is a YAML mapping")], str(path))
        raw = apply_overrides(raw, overrides)
    return parse_recipe(raw, source=str(path), base_dir=path.parent, check_paths=check_paths)


def recipe_json_schema() -> dict[str, Any]:
    """JSON schema of recipe files (for editor completion), stages included."""
    from toolkit.registry import STAGES
    from toolkit.stages import stage_names

    entries = []
    for name in stage_names():
        cls = STAGES.get(name).config_cls
        entry = create_model(f"{cls.__name__}Entry", __base__=StrictModel, **{name: (cls, ...)})
        entries.append(entry)
    stage_union = entries[0] if len(entries) == 1 else __import__("typing").Union[tuple(entries)]
    file_model = create_model("RecipeFile", __base__=RecipeHead, stages=(list[stage_union], ...))
    schema = file_model.model_json_schema()
    schema["title"] = "Compression recipe"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


__all__ = ["Recipe", "RecipeHead", "ReportSpec", "load_recipe", "parse_recipe", "apply_overrides",
           "check_stage_chain", "recipe_json_schema"]
