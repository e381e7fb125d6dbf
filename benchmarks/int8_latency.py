"""fp32 against INT8 (both Q/DQ schemes) on the CPU runtimes: latency at batch 1 and 32, and top-1.

    python -m benchmarks.int8_latency [--quick] [--out DIR]

Models: the quickstart's distilled seed_cnn (digits, 32x32) and a ResNet-18 trained briefly on the
digits upsampled to 224x224 (no ImageNet weights are reachable offline; the accuracy is the digits').
Both come from toolkit recipes (cached in benchmarks/work); INT8 is made with the quantize stage's
own functions (ONNX Runtime static quantization, 512 train images, minmax).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.common import RESULTS, write_results
from toolkit.artifacts import ModelArtifact
from toolkit.measure.accuracy import evaluate
from toolkit.measure.latency import time_samples
from toolkit.measure.rounds import wall_sampler
from toolkit.run.pipeline import run_recipe
from toolkit.quantize.ptq import BatchReader, preprocess, quantize
from toolkit.recipe import load_recipe, parse_recipe
from toolkit.runtimes import get_runtime
from toolkit.config import MeasureSpec

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "work"


def resnet18_recipe(quick: bool) -> dict:
    """ResNet-18 at 224x224 on the digits, trained briefly on the CPU."""
    return {"name": "int8-resnet18-digits", "seed": 0, "model": {"arch": "resnet18"},
            "data": {"dataset": "digits", "image_size": 224, "batch_size": 32, "limit_train": 400 if quick else None},
            "measure": {"runtimes": [], "batch_sizes": [1]},
            "stages": [{"train": {"epochs": 1 if quick else 3, "lr": 0.05, "eval_every": 0}}], "output": str(WORK)}


def trained_models(quick: bool):
    """(label, torch model, data bundle) for each case, trained by toolkit recipes (cached)."""
    from toolkit.data import build_data

    quickstart = load_recipe(REPO / "recipes" / "quickstart.yaml")
    quickstart = quickstart.model_copy(update={"output": WORK})
    quickstart.stages = [s for s in quickstart.stages if s.stage_type in ("train", "prune", "distill")]
    run = run_recipe(quickstart)
    yield "seed_cnn (quickstart, distilled)", run.model("distill"), build_data(quickstart.data, quickstart.seed)
    recipe = parse_recipe(resnet18_recipe(quick))
    run = run_recipe(recipe)
    yield "resnet18 224x224 (digits)", run.model("train"), build_data(recipe.data, recipe.seed)


def main(argv: list[str] | None = None) -> int:
    """Quantize both ways, measure, write benchmarks/results/int8_latency[_quick].{md,json}."""
    from toolkit.convert.onnx import export_onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter ResNet-18 training, fewer timed runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    timing = MeasureSpec(warmup_s=0.3, min_iters=20, min_time_s=0.5) if args.quick else MeasureSpec()
    rows = []
    for label, model, data in trained_models(args.quick):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            export_onnx(model, tmp / "fp32.onnx", data.example_input(1))
            preprocess(tmp / "fp32.onnx", tmp / "prep.onnx")
            files = {"fp32": tmp / "prep.onnx"}
            for scheme in ("cpu", "tensorrt"):
                reader = BatchReader(data.calibration_batches(512, 32, 0), "input")
                files[f"int8 {scheme} ({'u8s8' if scheme == 'cpu' else 's8s8'})"] = tmp / f"{scheme}.onnx"
                quantize(tmp / "prep.onnx", tmp / f"{scheme}.onnx", scheme=scheme, method="minmax", percentile=99.99,
                         per_channel=True, reader=reader, cache_file=tmp / "calibration.json")
            for variant, path in files.items():
                artifact = ModelArtifact("onnx-int8" if "int8" in variant else "onnx", path)
                ort = get_runtime("onnxruntime-cpu").load(artifact)
                top1 = evaluate(ort.predict, data.val_batches(), data.num_classes)["top1"]
                for runtime_name in ("onnxruntime-cpu", "openvino-cpu"):
                    session = get_runtime(runtime_name).load(artifact)
                    for bs in (1, 32):
                        images = data.example_input(bs).numpy()
                        p50 = time_samples(wall_sampler(session, images), timing)["p50_ms"]
                        rows.append({"model": label, "variant": variant, "runtime": runtime_name, "batch": bs,
                                     "p50_ms": p50, "top1": top1})
                        print(rows[-1], flush=True)
    for row in rows:
        base = next(r for r in rows if r["model"] == row["model"] and r["variant"] == "fp32"
                    and r["runtime"] == row["runtime"] and r["batch"] == row["batch"])
        row["speedup_vs_fp32"] = round(base["p50_ms"] / row["p50_ms"], 3)
    notes = ["top-1 is measured with ONNX Runtime on the validation split (the same for both runtimes).",
             "u8s8: uint8 activations, int8 per-channel weights (scheme cpu); s8s8: symmetric int8 (scheme tensorrt)."]
    write_results("int8_latency" + ("_quick" if args.quick else ""), "fp32 vs INT8 on CPU runtimes", rows,
                  ["model", "variant", "runtime", "batch", "p50_ms", "speedup_vs_fp32", "top1"], notes, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
