"""`compress bench`: measure an existing run's models (or one model file) on this machine, without retraining."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from toolkit.artifacts import Model, ModelArtifact
from toolkit.data.bundle import DataBundle
from toolkit.data.images import TensorImages
from toolkit.errors import ArtifactError, ToolkitError, UserInputError
from toolkit.fsutil import atomic_write_json, read_json
from toolkit.measure import measure_model
from toolkit.measure.device import describe_device, device_slug
from toolkit.registry import ONNX, ONNX_INT8, TENSORRT
from toolkit.specs import MeasureSpec


def latency_only_data(image_size: int, num_classes: int, seed: int = 0) -> DataBundle:
    """Random images of the right shape: latency can be measured where the validation set is not reachable."""
    gen = torch.Generator().manual_seed(seed)
    images = TensorImages(torch.rand((64, 3, image_size, image_size), generator=gen), torch.zeros(64, dtype=torch.long))
    return DataBundle(images, images, [str(i) for i in range(num_classes)], image_size, (0.5,) * 3, (0.25,) * 3,
                      None, info={"source": "random images (latency only)"})


def _data_for(run_dir: Path, recipe, log) -> tuple[DataBundle, str | None]:
    """The run's validation data when it can be built here, else random images and the reason."""
    from toolkit.data import build_data

    try:
        return build_data(recipe.data, recipe.seed), None
    except (ToolkitError, OSError) as exc:
        info = (read_json(run_dir / "run.json") or {}).get("data") or {}
        reason = f"validation data not reachable here ({exc}); latency measured on random images"
        log(reason)
        return latency_only_data(int(info.get("image_size", recipe.data.image_size)),
                                 len(info.get("classes") or []) or 10), reason


def bench_run(run_dir: Path, runtimes: list[str] | None = None, batch_sizes: list[int] | None = None,
              timing: dict[str, Any] | None = None, log=print) -> list[Path]:
    """Measure every completed stage of a run; write NN-<stage>/measurements/<device-slug>.json (metrics.json
    is left as it is)."""
    from toolkit.recipe import load_recipe
    from toolkit.runfolder import RunFolder
    from toolkit.stage_runner import load_output

    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    run = folder.read_run()
    if run is None:
        raise UserInputError(f"{run_dir} is not a run folder (no readable run.json)")
    recipe = load_recipe(run_dir / "recipe.yaml", check_paths=False)  # its data may not exist on this machine
    check_runtimes(runtimes or [])
    spec = recipe.measure.model_copy(update={k: v for k, v in {"runtimes": runtimes, "batch_sizes": batch_sizes,
                                                                 **(timing or {})}.items() if v is not None})
    spec = MeasureSpec.model_validate(spec.model_dump())
    data, data_reason = _data_for(run_dir, recipe, log)
    device = describe_device()
    slug = device_slug(device)
    written = []
    from toolkit.runfolder import STAGE_DIR

    for entry in run.get("stages") or []:
        name = str(entry.get("dir", ""))
        if not STAGE_DIR.match(name) or name.startswith("."):
            log(f"run.json names {name!r}, which is not a stage folder; skipped")
            continue
        directory = run_dir / name
        metrics = folder.read_metrics(directory)
        if not metrics or metrics.get("status") not in ("ok", "degraded"):  # degraded models are measured too
            continue
        model = load_output(directory, metrics, None)
        with tempfile.TemporaryDirectory() as scratch:  # exports go to scratch: the stage folder stays as it was
            result = measure_model(model, data=data, spec=spec.model_copy(update={"accuracy": data_reason is None}),
                                   stage_dir=directory, scratch_dir=Path(scratch), device=_device(),
                                   log=None)
        if data_reason:
            result["accuracy"]["reason"] = data_reason
        record = {"stage": entry["name"], "index": entry["index"], "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "device_slug": slug, **result}
        path = directory / "measurements" / f"{slug}.json"
        atomic_write_json(path, record)
        written.append(path)
        log(f"{name}: measured on {slug} -> {path.relative_to(run_dir)}")
    return written


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def artifact_for(path: Path) -> tuple[Model, int]:
    """A single model file as a model plus its input size: torch (structure.json), ONNX, INT8 ONNX, engine."""
    path = Path(path)
    if path.is_dir() or path.name in ("structure.json", "model.safetensors"):
        from toolkit.models.io import load_model, read_structure

        directory = path if path.is_dir() else path.parent
        image_size = int(read_structure(directory / "structure.json")["spec"].get("image_size", 224))
        return load_model(directory), image_size
    if path.suffix == ".onnx":
        import onnx

        from toolkit.onnxutil import check_onnx_file

        check_onnx_file(path)
        proto = onnx.load(str(path))
        dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
        int8 = any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
        return ModelArtifact(ONNX_INT8 if int8 else ONNX, path), int(dims[-1] or 224)
    if path.suffix in (".engine", ".plan", ".trt"):
        return ModelArtifact(TENSORRT, path), 0
    raise ArtifactError(f"{path}: not a model this toolkit can measure (a run stage folder, .onnx or .engine)")


def check_runtimes(names: list[str]) -> None:
    """Refuse unknown runtime names with a suggestion (before anything is measured)."""
    from toolkit.registry import UnknownNameError
    from toolkit.runtimes import runtime_names

    for name in names:
        if name not in runtime_names():
            raise UserInputError(f"--runtime: {UnknownNameError('runtime', name, runtime_names())}")


def bench_file(path: Path, spec: MeasureSpec, image_size: int | None = None, num_classes: int = 10) -> dict[str, Any]:
    """Measure one model file's latency on this machine (no accuracy: no data comes with a file)."""
    check_runtimes(spec.runtimes)
    model, size = artifact_for(path)
    size = image_size or size
    if not size:
        raise UserInputError("--input-size is needed for engine files (their shapes are inside the engine)")
    data = latency_only_data(size, num_classes)
    with tempfile.TemporaryDirectory() as scratch:
        result = measure_model(model, data=data, spec=spec.model_copy(update={"accuracy": False}),
                               stage_dir=Path(path).parent, scratch_dir=Path(scratch), device=_device())
    return result
