"""Images that are not square RGB, end to end: [height, width] sizes and 1-channel (grayscale) data sets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from PIL import Image

from toolkit.bench import bench_file
from toolkit.cli import main
from toolkit.config import MeasureSpec
from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe

RECT = [24, 40]  # height, width


def _onnx_input(path: Path) -> list:
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param or d.dim_value for d in dims]


def _statuses(stage) -> dict[str, str]:
    return {r["runtime"]: r["status"] for r in stage.metrics["latency"]}


def _report_size(run_dir: Path) -> str:
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    return html.split("validation images, ", 1)[1].split(" classes", 1)[0]


def gray_tree(root: Path, size=(30, 50), per_class: int = 10) -> Path:
    """A learnable grayscale ImageFolder: class 'dark' is dim noise, 'light' bright noise (8-bit 'L' PNGs)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("val", per_class // 2)):
        for name, low in (("dark", 0), ("light", 150)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(low, low + 100, size, dtype=np.uint8), mode="L").save(folder / f"{i}.png")
    return root


@pytest.mark.slow
def test_a_height_width_image_size_goes_through_train_prune_quantize_and_measure(tiny, tmp_path):
    raw = tiny(model={"arch": "seed_cnn"},
               data={"dataset": "synthetic", "image_size": RECT, "num_samples": 96, "num_classes": 4,
                     "batch_size": 16},
               stages=[{"train": {"epochs": 2, "lr": 0.05}},
                       {"prune": {"method": "l2", "target": {"ratio": 0.25}, "round_to": 2}},
                       {"quantize": {"scheme": "cpu", "backend": "onnxruntime", "calibration": {"samples": 32},
                                     "cache_dir": str(tmp_path / "calib")}}])
    raw["measure"]["runtimes"] = ["onnxruntime-cpu"]
    result = run_recipe(parse_recipe(raw))
    quantize = result.stages[-1]
    assert quantize.metrics["model"]["format"] == "onnx-int8"
    assert _onnx_input(quantize.directory / "model.int8.onnx") == ["batch", 3, *RECT]
    assert _onnx_input(quantize.directory / "model.fp32.onnx") == ["batch", 3, *RECT]
    for stage in result.stages:  # every stage measured on the ONNX runtime at the data's shape
        assert _statuses(stage) == {"onnxruntime-cpu": "ok"}, stage.metrics["latency"]
    assert json.loads((result.run_dir / "run.json").read_text())["data"]["image_size"] == RECT
    assert _report_size(result.run_dir).startswith("24x40,")


def test_a_height_width_image_size_trains_and_exports_at_that_shape(tiny):
    raw = tiny(model={"arch": "seed_cnn"},
               data={"dataset": "synthetic", "image_size": RECT, "num_samples": 64, "num_classes": 4,
                     "batch_size": 16},
               stages=[{"train": {"epochs": 1, "lr": 0.05}}, {"export": {}}])
    raw["measure"].update(runtimes=["onnxruntime-cpu"], accuracy=False)
    result = run_recipe(parse_recipe(raw))
    assert _onnx_input(result.stages[-1].directory / "model.onnx") == ["batch", 3, *RECT]
    assert _statuses(result.stages[-1]) == {"onnxruntime-cpu": "ok"}
    assert _report_size(result.run_dir) == "24x40, 4"


def test_a_grayscale_image_folder_trains_exports_measures_and_benches_in_one_channel(tiny, tmp_path):
    root = gray_tree(tmp_path / "gray")
    raw = tiny(model={"arch": "seed_cnn"},
               data={"dataset": "imagefolder", "root": str(root), "image_size": RECT, "channels": 1,
                     "mean": [0.5], "std": [0.25], "batch_size": 4},
               stages=[{"train": {"epochs": 2, "lr": 0.05}}, {"export": {}}])
    raw["measure"]["runtimes"] = ["torch-cpu", "onnxruntime-cpu"]
    result = run_recipe(parse_recipe(raw))
    train, export = result.stages
    assert train.metrics["status"] == "ok" and train.metrics["accuracy"]["top1"] > 0.5
    assert _onnx_input(export.directory / "model.onnx") == ["batch", 1, *RECT]
    assert _statuses(train) == {"torch-cpu": "ok", "onnxruntime-cpu": "ok"}
    assert _statuses(export)["onnxruntime-cpu"] == "ok"
    spec = json.loads((train.directory / "structure.json").read_text())["spec"]
    assert spec["channels"] == 1 and spec["image_size"] == RECT
    assert _report_size(result.run_dir) == "24x40, 1 channel (grayscale), 2"

    shutil.rmtree(root)  # compress bench: random images of the shape run.json records, (1, 24, 40)
    bench = CliRunner().invoke(main, ["bench", str(result.run_dir), "--runtime", "onnxruntime-cpu"])
    assert bench.exit_code == 0 and "random images" in bench.output, bench.output
    for stage in result.stages:
        record = json.loads(next((stage.directory / "measurements").glob("*.json")).read_text())
        assert [r["status"] for r in record["latency"]] == ["ok"], record["latency"]
    quick = MeasureSpec.model_validate({**raw["measure"], "runtimes": ["onnxruntime-cpu"]})
    for model in (train.directory, export.directory / "model.onnx"):  # the shape of structure.json, of the ONNX
        assert [r["status"] for r in bench_file(model, quick)["latency"]] == ["ok"]
