"""`compress bench`: measure an existing run's models (or one model file) on this machine, without retraining."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from toolkit.artifacts import ONNX, ONNX_INT8, TENSORRT, Model, ModelArtifact
from toolkit.bench.recipe import RunRecipe, load_run_recipe, replace_in_memory
from toolkit.config import InputShape, MeasureSpec
from toolkit.convert.onnx import ONNX_FILE
from toolkit.data.bundle import DataBundle
from toolkit.data.images import TensorImages
from toolkit.errors import ArtifactError, ToolkitError, UserInputError
from toolkit.fsutil import atomic_write_json, read_json
from toolkit.measure.device import describe_device, device_slug
from toolkit.measure.model import measure_model
from toolkit.measure.together import measure_interleaved
from toolkit.models.spec_bounds import saved_input_shape
from toolkit.records import HAS_MODEL, OK, SKIPPED, read_run


def latency_only_data(shape: InputShape, num_classes: int, seed: int = 0) -> DataBundle:
    """64 random images of `shape` (channels, height, width): latency can be measured where the validation set is
    not reachable."""
    gen = torch.Generator().manual_seed(seed)
    images = TensorImages(torch.rand(shape.batch(64), generator=gen), torch.zeros(64, dtype=torch.long))
    return DataBundle(images, images, [str(i) for i in range(num_classes)], shape, (0.5,) * shape.channels,
                      (0.25,) * shape.channels, None, info={"source": "random images (latency only)"})


def _data_for(run_dir: Path, recipe, log, in_memory: bool = False) -> tuple[DataBundle, str | None]:
    """The run's validation data when it can be built here, else random images and the reason."""
    from toolkit.data import build_data

    try:
        if in_memory:
            raise UserInputError("the run's data set was an in-memory Python object")
        return build_data(recipe.data, recipe.seed), None
    except (ToolkitError, OSError) as exc:
        try:
            run = read_run(read_json(run_dir / "run.json"))  # typed: a 'data' that is not a mapping is dropped
        except ValueError:
            run = None
        info = (run.data if run is not None else None) or {}
        try:  # what run.json says the run's images were; the recipe's data section where it says nothing usable
            shape = saved_input_shape(info) if "image_size" in info else recipe.data.input_shape
        except ValueError:
            shape = recipe.data.input_shape
        classes = info.get("classes")
        count = len(classes) if isinstance(classes, list) and 2 <= len(classes) <= 100_000 else 10
        reason = f"validation data not reachable here ({exc}); latency measured on random images"
        log(reason)
        return latency_only_data(shape, count), reason


def run_recipe_head(run_dir: Path, trust_code: bool, log) -> RunRecipe:
    """The run's recipe as far as bench needs it (data, seed, measure); its plugins only when trusted.

    A run folder may come from someone else: without `trust_code` its `plugins:` are not imported, nothing
    is added to sys.path and its model architecture is not looked up (no import happens).
    """
    from toolkit.recipe.parse import RecipeHead, _resolve_paths, read_yaml
    from toolkit.recipe.problems import problems_from

    path = run_dir / "recipe.yaml"
    if trust_code:
        log(f"--trust-code: importing the plugins named in {path} and running the code its models name")
        return load_run_recipe(run_dir)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserInputError(f"{path}: not a recipe mapping")
    raw, in_model, in_data = replace_in_memory(raw)
    if raw.get("plugins"):
        log(f"{path} names plugins {raw['plugins']!r}; they are not imported (code from a run folder runs only "
            f"with --trust-code), so stages that need them are refused")
    head_raw = {k: v for k, v in raw.items() if k not in ("stages", "plugins")}
    try:
        head = RecipeHead.model_validate(head_raw)
    except ValidationError as exc:
        from toolkit.errors import RecipeError

        raise RecipeError(problems_from(exc, RecipeHead), str(path)) from None
    _resolve_paths(head, run_dir.resolve())
    return RunRecipe(head, in_model, in_data)


def bench_run(run_dir: Path, runtimes: list[str] | None = None, batch_sizes: list[int] | None = None,
              timing: dict[str, Any] | None = None, log=print, *, trust_code: bool = False) -> list[Path]:
    """Measure every completed stage of a run; write NN-<stage>/measurements/<device-slug>.json (metrics.json
    is left as it is). Code named by the run folder (plugins, 'module:function' models) runs only with
    `trust_code`; raises UserInputError/ArtifactError for a folder that is not a readable run."""
    from toolkit.run.folder import RunFolder
    from toolkit.run.folder_safety import check_no_links
    from toolkit.run.stage_runner import load_output

    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    run = folder.read_run()
    if not isinstance(run, dict):
        raise UserInputError(f"{run_dir} is not a run folder (no readable run.json)")
    check_no_links(run_dir)  # measurements are written inside the run folder only
    loaded = run_recipe_head(run_dir, trust_code, log)  # its data may not exist on this machine
    recipe = loaded.recipe
    check_runtimes(runtimes or [])
    spec = recipe.measure.model_copy(update={k: v for k, v in {"runtimes": runtimes, "batch_sizes": batch_sizes,
                                                                 **(timing or {})}.items() if v is not None})
    spec = MeasureSpec.model_validate(spec.model_dump())
    data, data_reason = _data_for(run_dir, recipe, log, loaded.in_memory_data)
    device = describe_device()
    slug = device_slug(device)
    from toolkit.layout import STAGE_DIR

    stages = []
    entries = run.get("stages") if isinstance(run.get("stages"), list) else []
    skipped: list[str] = []  # why each listed stage is not measured: the error when none is
    onnx_only: set[str] = set()  # torch stages of an in-memory module: measured through their model.onnx
    for entry in entries:
        if not isinstance(entry, dict):
            log(f"run.json lists {entry!r}, which is not a stage entry; skipped")
            skipped.append(f"{str(entry)[:40]!r} is not a stage entry")
            continue
        name = str(entry.get("dir", ""))
        if not STAGE_DIR.match(name) or name.startswith("."):
            log(f"run.json names {name!r}, which is not a stage folder; skipped")
            skipped.append(f"{name[:40]!r} is not a stage folder")
            continue
        directory = run_dir / name
        metrics = folder.read_metrics(directory)
        if not metrics or metrics.get("status") not in HAS_MODEL:  # degraded models are measured too
            skipped.append(f"{name} has no completed model (status {(metrics or {}).get('status', 'unknown')})")
            continue
        _check_as_written(directory, log)
        if loaded.in_memory_model and (metrics.get("model") or {}).get("format") == "torch":
            exported = directory / ONNX_FILE
            if not exported.is_file():
                log(f"{name}: a torch model made from an in-memory module (Pipeline(model=...)) cannot be rebuilt "
                    f"here and has no {ONNX_FILE}; skipped (from Python: load_model(path, base_model=module))")
                skipped.append(f"{name} is a torch model made from an in-memory module, without {ONNX_FILE}")
                continue
            log(f"{name}: a torch model made from an in-memory module (Pipeline(model=...)) cannot be rebuilt "
                f"here; its {ONNX_FILE} is measured on the ONNX runtimes, torch runtimes are skipped "
                f"(from Python: load_model(path, base_model=module))")
            onnx_only.add(name)
            stages.append((entry, directory, ModelArtifact(ONNX, exported)))
            continue
        stages.append((entry, directory, load_output(directory, metrics, None, trust_code=trust_code)))
    if not stages:
        stages_value = run.get("stages")
        why = "; ".join(skipped[:5]) if skipped else "run.json lists no stages" if isinstance(stages_value, list) \
            else f"run.json 'stages' is {type(stages_value).__name__}, not a list of stage entries"
        raise UserInputError(f"{run_dir}: nothing to measure: {why}")
    with tempfile.TemporaryDirectory() as scratch:  # exports go to scratch: the stage folders stay as they were
        results = measure_interleaved([(d.name, model, d) for _, d, model in stages], data, spec,
                                      data_reason is None, Path(scratch))
    written = []
    for entry, directory, _ in stages:
        result = results[directory.name]
        if directory.name in onnx_only:
            _skip_torch_runtimes(result)
        if data_reason:
            result["accuracy"]["reason"] = data_reason
        record = {"stage": str(entry.get("name", directory.name)), "index": entry.get("index"),
                  "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "device_slug": slug, **result}
        path = directory / "measurements" / f"{slug}.json"
        atomic_write_json(path, record)
        written.append(path)
        log(f"{directory.name}: measured on {slug} -> {path.relative_to(run_dir)}")
    return written


REMADE_EXPORTS = frozenset({ONNX_FILE, "model.fp32.onnx"})


def _check_as_written(directory: Path, log) -> None:
    """Refuse a stage whose files or metrics changed since the run wrote them (toolkit.layout.stage_problem):
    bench would otherwise record whatever file sits at the model's path under the stage's name. A stage
    written before metrics were sealed (format < SEALED_SINCE) has its files checked, and says so."""
    from toolkit.layout import METRICS, SEAL, files_problem, stage_problem
    from toolkit.records import SEALED_SINCE

    try:
        raw = read_json(directory / METRICS)
    except ValueError as exc:
        raise ArtifactError(str(exc)) from None
    model = raw.get("model") if isinstance(raw, dict) else None
    model_file = str(model.get("file")) if isinstance(model, dict) else ""
    derived = REMADE_EXPORTS - {model_file}  # bench exports a torch model again into scratch when these are gone
    version = raw.get("format_version", 0) if isinstance(raw, dict) else None
    if isinstance(raw, dict) and SEAL not in raw and type(version) is int and 0 <= version < SEALED_SINCE:
        problem, unsealed = files_problem(directory, raw.get("files"), derived), True
    else:
        problem, unsealed = stage_problem(directory, raw, derived), False
    if problem is not None:
        raise ArtifactError(f"{problem}; compress bench measures only what the run wrote: run the recipe "
                            f"again (compress run) to recompute the stage, then bench it")
    if unsealed:
        log(f"{directory.name}: written before metrics were sealed (format {version}): its files match their "
            f"recorded hashes, its metrics.json cannot be checked")


def _skip_torch_runtimes(result: dict[str, Any]) -> None:
    """Say why a torch stage of an in-memory module has no torch-runtime latency (only its model.onnx ran)."""
    from toolkit.artifacts import TORCH
    from toolkit.runtimes import get_runtime

    result.setdefault("model", {})["measured_file"] = ONNX_FILE
    for rec in result.get("latency") or []:
        if TORCH in get_runtime(rec["runtime"]).formats and rec.get("status") != OK:
            rec["status"] = SKIPPED
            rec["reason"] = ("a torch model made from an in-memory module (Pipeline(model=...)) cannot be rebuilt "
                             f"here; its {ONNX_FILE} was measured on the ONNX runtimes")


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def artifact_for(path: Path, trust_code: bool = False) -> tuple[Model, InputShape | None]:
    """A single model file as a model plus its input shape: torch (structure.json), ONNX, INT8 ONNX (their input's
    dimensions; 3x224x224 where they are dynamic), engine (None: the shape is inside it).

    A 'module:function' architecture in structure.json runs only with `trust_code`."""
    path = Path(path)
    if path.is_dir() or path.name in ("structure.json", "model.safetensors"):
        from toolkit.models.io import load_model

        directory = path if path.is_dir() else path.parent
        model = load_model(directory, trust_code=trust_code)  # checks structure.json, its spec included
        return model, saved_input_shape(read_json(directory / "structure.json")["spec"])
    if path.suffix == ".onnx":
        from toolkit.artifacts import check_onnx_file
        from toolkit.quantize.onnx_input import read_model

        proto = read_model(path)  # untrusted: a regular file within bounds (never a FIFO), external data inside
        check_onnx_file(path)
        if not proto.graph.input:
            raise ArtifactError(f"{path}: the ONNX model has no input")
        dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
        int8 = any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
        known = len(dims) == 4 and all(d > 0 for d in dims[1:])  # (N, C, H, W), N dynamic
        shape = InputShape(*dims[1:]) if known else InputShape(3, 224, 224)
        return ModelArtifact(ONNX_INT8 if int8 else ONNX, path), shape
    if path.suffix in (".engine", ".plan", ".trt"):
        return ModelArtifact(TENSORRT, path), None
    raise ArtifactError(f"{path}: not a model this toolkit can measure (a run stage folder, .onnx or .engine)")


def check_runtimes(names: list[str]) -> None:
    """Refuse unknown runtime names with a suggestion (before anything is measured)."""
    from toolkit.registry import UnknownNameError
    from toolkit.runtimes import runtime_names

    for name in names:
        if name not in runtime_names():
            raise UserInputError(f"--runtime: {UnknownNameError('runtime', name, runtime_names())}")


def bench_file(path: Path, spec: MeasureSpec, image_size: int | tuple[int, int] | None = None,
               num_classes: int = 10, *, trust_code: bool = False) -> dict[str, Any]:
    """Measure one model file's latency on this machine (no accuracy: no data comes with a file).

    `image_size` (an int, or (height, width)) replaces the file's own; the channel count is the file's (3 for an
    engine). Raises UserInputError for an engine file without `image_size`."""
    check_runtimes(spec.runtimes)
    model, shape = artifact_for(path, trust_code)
    if image_size is not None:
        shape = InputShape.of(image_size, shape.channels if shape else 3)
    if shape is None:
        raise UserInputError("--input-size is needed for engine files (their shapes are inside the engine)")
    data = latency_only_data(shape, num_classes)
    with tempfile.TemporaryDirectory() as scratch:
        result = measure_model(model, data=data, spec=spec.model_copy(update={"accuracy": False}),
                               stage_dir=Path(path).parent, scratch_dir=Path(scratch), device=_device())
    return result
