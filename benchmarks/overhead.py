"""The toolkit's own overhead: its training loop against a bare loop, cached reruns, export, calibration, report.

    python -m benchmarks.overhead [--quick | --smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from benchmarks.common import RESULTS, write_results
from toolkit.data import build_data
from toolkit.models import build_model
from toolkit.run.pipeline import run_recipe
from toolkit.recipe import load_recipe, parse_recipe
from toolkit.config import DataSpec, ModelSpec

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "work"


def bare_loop_images_per_s(model: nn.Module, bundle, epochs: int, lr: float, seed: int) -> float:
    """A hand-written PyTorch loop over the same tensors: shuffle, slice, normalise, step (no augmentation)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    images, labels = bundle.train.images, bundle.train.labels
    mean = torch.tensor(bundle.mean).view(1, 3, 1, 1)
    std = torch.tensor(bundle.std).view(1, 3, 1, 1)
    bs, seen, spent = bundle.batch_size, 0, 0.0
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=gen)
        start = time.perf_counter()
        for i in range(0, len(order) - bs + 1, bs):
            idx = order[i:i + bs]
            x = images[idx].float()
            x = ((x / 255.0 if images.dtype == torch.uint8 else x) - mean) / std
            loss = nn.functional.cross_entropy(model(x), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(idx)
        spent += time.perf_counter() - start
    return seen / spent


def loop_overhead(mode: str, work: Path) -> list[dict]:
    """Train stage images/s against the bare loop, same model, tensors, batch size and optimiser."""
    size = 16 if mode == "smoke" else 32
    data = {"dataset": "synthetic", "image_size": size, "num_samples": 256 if mode == "smoke" else 8192,
            "num_classes": 10, "batch_size": 128}
    epochs = 1 if mode == "smoke" else 3
    raw = {"name": f"overhead-{mode}", "seed": 0, "model": {"arch": "resnet20"}, "data": data,
           "measure": {"runtimes": [], "batch_sizes": [1]}, "output": str(work),
           "stages": [{"train": {"epochs": epochs, "lr": 0.05, "augment": False, "eval_every": 0,
                                 "weight_decay": 5e-4}}]}
    result = run_recipe(parse_recipe(raw), fresh=True)
    history = result.metrics["train"]["extra"]["history"]
    toolkit_ips = sum(h["images_per_s"] for h in history) / len(history)
    bundle = build_data(DataSpec(**data), 0)
    torch.manual_seed(0)
    bare = bare_loop_images_per_s(build_model(ModelSpec(arch="resnet20"), 10, size), bundle, epochs, 0.05, 0)
    return [{"measure": "train stage vs bare loop (images/s)", "toolkit": round(toolkit_ips, 1),
             "reference": round(bare, 1), "ratio": round(toolkit_ips / bare, 3), "target": ">= 0.95"}]


def rerun_overhead(mode: str, work: Path) -> list[dict]:
    """Wall time of the quickstart: first run against an unchanged rerun (everything cached)."""
    recipe = load_recipe(REPO / "recipes" / "quickstart.yaml",
                         [f"output={work}", f"name=overhead-quickstart-{mode}"] +
                         (["stages.0.train.epochs=2", "stages.2.distill.epochs=1", "measure.min_iters=3",
                           "measure.warmup_s=0", "measure.min_time_s=0"] if mode == "smoke" else []))
    t0 = time.perf_counter()
    run_recipe(recipe, fresh=True)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_recipe(recipe)
    again = time.perf_counter() - t0
    return [{"measure": "quickstart wall time: rerun (cached) vs first run (s)", "toolkit": round(again, 2),
             "reference": round(first, 2), "ratio": round(again / first, 4), "target": "seconds, no training"}]


def step_times(mode: str, work: Path) -> list[dict]:
    """Export, calibration (and a cached second pass) and report generation times."""
    from toolkit.convert.onnx import export_onnx
    from toolkit.quantize.ptq import BatchReader, preprocess, quantize
    from toolkit.report import write_report

    rows = []
    cases = [("quickstart seed_cnn 32x32", "seed_cnn", 32, 512)]
    if mode != "smoke":
        cases.append(("resnet18 224x224", "resnet18", 224, 128 if mode == "quick" else 512))
    for label, arch, size, samples in cases:
        bundle = build_data(DataSpec(dataset="synthetic", image_size=size, num_samples=max(256, samples + 64)), 0)
        model = build_model(ModelSpec(arch=arch), 10, size).eval()
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            t0 = time.perf_counter()
            export_onnx(model, tmp / "m.onnx", bundle.example_input(1))
            export_s = time.perf_counter() - t0
            preprocess(tmp / "m.onnx", tmp / "prep.onnx")
            times = []
            for _ in range(2):  # the second pass hits the calibration cache
                reader = BatchReader(bundle.calibration_batches(samples, 32, 0), "input")
                t0 = time.perf_counter()
                quantize(tmp / "prep.onnx", tmp / "q.onnx", scheme="cpu", method="minmax", percentile=99.99,
                         per_channel=True, reader=reader, cache_file=tmp / "cache.json")
                times.append(time.perf_counter() - t0)
        rows += [{"measure": f"{label}: ONNX export (s)", "toolkit": round(export_s, 3)},
                 {"measure": f"{label}: calibrate + quantize, {samples} images (s)", "toolkit": round(times[0], 3)},
                 {"measure": f"{label}: quantize with cached calibration (s)", "toolkit": round(times[1], 3),
                  "reference": round(times[0], 3), "ratio": round(times[1] / times[0], 3)}]
    run_dir = work / f"overhead-quickstart-{mode}"
    t0 = time.perf_counter()
    write_report([run_dir], Path(tempfile.mkdtemp()) / "report.html")
    rows.append({"measure": "quickstart: HTML report generation (s)", "toolkit": round(time.perf_counter() - t0, 3)})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure and write benchmarks/results/overhead[_mode].{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic data, for tests")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=WORK, help="where the run folders go")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    rows = loop_overhead(mode, args.work) + rerun_overhead(mode, args.work) + step_times(mode, args.work)
    for row in rows:
        print(row, flush=True)
    notes = ["Loop: resnet20, 128-image batches of in-memory tensors, SGD (nesterov, weight decay), no "
             "augmentation in either loop; the toolkit's images/s excludes its per-epoch validation.",
             "The reference loop is written by hand in benchmarks/overhead.py and runs in the same process."]
    write_results("overhead" + ("" if mode == "full" else f"_{mode}"), "The toolkit's own overhead", rows,
                  ["measure", "toolkit", "reference", "ratio", "target"], notes, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
