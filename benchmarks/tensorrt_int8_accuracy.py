"""Top-1 of the `tensorrt` INT8 scheme on ONNX Runtime against fp32, for each quantizer backend.

    python -m benchmarks.tensorrt_int8_accuracy [--quick] [--out DIR]

Two models: the quickstart (seed_cnn on scikit-learn digits: train -> prune -> distill, as in
recipes/quickstart.yaml) and ResNet-20 trained on the CIFAR-10 photographs. Each is quantized with the
tensorrt scheme (symmetric int8, per-channel weights) by NVIDIA ModelOpt and by ONNX Runtime's quantizer,
plain PTQ (no accuracy gate), and by QAT (ModelOpt's PyTorch quantization, and torch.ao); the int8 files and
the fp32 ONNX model are scored on ONNX Runtime's CPU provider over the whole validation split. The Q/DQ
placement check's findings are listed beside them.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import yaml

from benchmarks.cifar import cifar10_root
from benchmarks.common import RESULTS, write_results
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import parse_recipe

WORK = Path(__file__).parent / "work"
REPO = Path(__file__).resolve().parents[1]
MEASURE = {"runtimes": ["onnxruntime-cpu"], "batch_sizes": [1], "warmup_s": 0.0, "min_iters": 3, "min_time_s": 0.0}


def quickstart(quick: bool) -> dict:
    """recipes/quickstart.yaml without the engine stage and its quantize, measured briefly."""
    raw = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text())
    raw["stages"] = [s for s in raw["stages"] if not {"engine", "quantize"} & set(s)]
    if quick:
        raw["stages"][0]["train"]["epochs"] = 6
        raw["stages"][2]["distill"]["epochs"] = 2
    raw["measure"] = dict(MEASURE)
    return raw


def resnet20(root: Path, quick: bool) -> dict:
    """ResNet-20 trained on CIFAR-10 photographs (quick: a 10k-image subset and fewer epochs)."""
    return {"name": "resnet20-cifar10", "seed": 0, "model": {"arch": "resnet20"},
            "data": {"dataset": "imagefolder", "root": str(root), "image_size": 32, "batch_size": 128,
                     "limit_train": 10000 if quick else None, "limit_val": 2000 if quick else None},
            "measure": dict(MEASURE),
            "stages": [{"train": {"epochs": 4 if quick else 30, "lr": 0.1, "warmup_epochs": 1}}]}


def score(raw: dict, backend: str, work: Path) -> dict:
    """Run the recipe (cached) plus a tensorrt-scheme quantize by `backend`; return the table row."""
    raw = copy.deepcopy(raw)
    raw["output"] = str(work / "runs")  # one run folder: the training is cached, only quantize reruns
    raw["stages"].append({"quantize": {"scheme": "tensorrt", "backend": backend, "sensitivity_samples": None,
                                       "calibration": {"samples": 512, "method": "minmax"},
                                       "cache_dir": str(work / "calibration")}})
    stage = run_recipe(parse_recipe(raw)).stages[-1]
    extra = stage.metrics["extra"]
    return _row(raw["name"], f"{backend} {extra['quantizer']['version']}", stage, round(extra["fp32_top1"] * 100, 2),
                round(extra["int8_top1_before_fallback"] * 100, 2))


def _row(model: str, label: str, stage, fp32_top1: float, int8_top1: float) -> dict:
    """One table row: top-1 (%) of both models, the drop, and the int8 file's Q/DQ count and placement."""
    extra = stage.metrics["extra"]
    placement = extra["placement"]
    return {"model": model, "backend": label, "fp32_top1": fp32_top1, "int8_top1": int8_top1,
            "drop_points": round(fp32_top1 - int8_top1, 3), "within_0.5": fp32_top1 - int8_top1 <= 0.5,
            "qdq_nodes": extra["qdq"]["quantize_nodes"] + extra["qdq"]["dequantize_nodes"],
            "placement": "ok" if placement["ok"] else
            ", ".join(f"{k} {v}" for k, v in placement["counts"].items() if v),
            "quantize_s": round(stage.metrics["seconds"], 1)}


def score_qat(raw: dict, backend: str, work: Path, fp32_top1: float, epochs: int) -> dict:
    """The same model by QAT (`epochs` of fake-quant training, distilled from the quickstart's teacher when it
    has a distill stage) with ModelOpt's PyTorch quantization (backend modelopt) or torch.ao (onnxruntime)."""
    raw = copy.deepcopy(raw)
    raw["output"] = str(work / "runs")
    raw["stages"].append({"quantize": {"scheme": "tensorrt", "backend": backend,
                                       "calibration": {"samples": 512, "method": "minmax"},
                                       "qat": {"epochs": epochs, "lr": 0.001}, "cache_dir": str(work / "calibration")}})
    stage = run_recipe(parse_recipe(raw)).stages[-1]
    quantizer = stage.metrics["extra"]["quantizer"]
    return _row(raw["name"], f"QAT {quantizer['backend']} {quantizer['version']}", stage, fp32_top1,
                round(stage.metrics["accuracy"]["top1"] * 100, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter training (what the committed table used)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    work = WORK / "tensorrt_int8_accuracy"
    recipes = [quickstart(args.quick)]
    root = cifar10_root()
    notes = []
    if root is not None:
        recipes.append(resnet20(root, args.quick))
    else:
        notes.append("ResNet-20 skipped: the CIFAR-10 archive (../shared/data/cifar10-jpeg.tar.gz) is absent")
    rows = []
    qat_epochs = 1 if args.quick else 3
    for raw in recipes:
        ptq = [score(raw, backend, work) for backend in ("modelopt", "onnxruntime")]
        rows += ptq + [score_qat(raw, backend, work, ptq[0]["fp32_top1"], qat_epochs)
                       for backend in ("modelopt", "onnxruntime")]
    budget = ("quick budget: quickstart train 6 + distill 2 epochs; ResNet-20 4 epochs on a seeded 10,000-image "
              "train subset, scored on a seeded 2,000-image validation subset" if args.quick else
              "full budget: quickstart as committed; ResNet-20 30 epochs on all 50,000 images, 10,000 validation")
    notes += [budget,
              "calibration: 512 train images, minmax (ModelOpt 'max'); no accuracy gate (max_accuracy_drop unset)",
              f"QAT rows: {qat_epochs} epoch(s) of fake-quant training at lr 0.001 from the same fp32 model "
              "(the quickstart distils from its teacher), then Q/DQ export; QAT modelopt is ModelOpt's PyTorch "
              "quantization (calibrated first, residual Adds' skip inputs then share their Q/DQ), QAT torch.ao "
              "is the torch.ao FX path (backend: onnxruntime); int8_top1 is the stage's top-1 on ONNX Runtime; "
              "QAT is also more training, so on a briefly trained baseline its top-1 can exceed fp32's",
              "top-1 on ONNX Runtime's CPU provider for both the fp32 ONNX model and the int8 Q/DQ model",
              "placement: the toolkit's TensorRT Q/DQ placement check (toolkit/quantize/placement.py)",
              "quantize_s: the quantize stage's own seconds (export, pre-processing, calibration, both top-1 "
              "scores), on a shared 2-core machine under load from other jobs",
              "nothing here ran on TensorRT or a GPU"]
    paths = write_results("tensorrt_int8_accuracy" + ("_quick" if args.quick else ""),
                          "tensorrt INT8 scheme: top-1 on ONNX Runtime vs fp32, per quantizer", rows,
                          ["model", "backend", "fp32_top1", "int8_top1", "drop_points", "within_0.5", "qdq_nodes",
                           "placement", "quantize_s"], notes, args.out)
    print("\n".join(str(p) for p in paths))


if __name__ == "__main__":
    main()
