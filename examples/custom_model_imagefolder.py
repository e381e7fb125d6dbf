"""Your own model on your own ImageFolder photos: train, prune, distill, INT8, measured after each stage.

    python examples/custom_model_imagefolder.py --data path/to/images --out runs/my-net
    (path/to/images holds train/<class>/*.jpg and val/<class>/*.jpg, or test/ instead of val/)

Without --data it writes a tiny synthetic ImageFolder tree first, so the example always runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toolkit import Pipeline, stages


class TinyNet(nn.Module):
    """Three conv-BN-ReLU blocks and a linear head: a stand-in for your own network."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(4 * width),
            nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def write_demo_images(root: Path, per_class: int = 24, size: int = 24) -> Path:
    """A small ImageFolder tree of coloured squares (one colour per class) with noise."""
    from PIL import Image

    rng = np.random.default_rng(0)
    colours = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
    for split, n in (("train", per_class), ("val", per_class // 2)):
        for name, colour in colours.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.clip(rng.normal(colour, 60, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def main() -> None:
    """Build the pipeline from Python objects and run it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="ImageFolder root (default: a generated demo)")
    parser.add_argument("--out", type=Path, default=Path("runs/example-imagefolder"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=24)
    args = parser.parse_args()
    root = args.data or write_demo_images(args.out.parent / "demo-images")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    torch.manual_seed(0)
    pipe = Pipeline(
        model=TinyNet(num_classes=len(classes)),
        data={"dataset": "imagefolder", "root": str(root.resolve()), "image_size": args.image_size, "batch_size": 16},
        measure={"runtimes": ["onnxruntime-cpu", "openvino-cpu"], "batch_sizes": [1], "min_iters": 20},
        stages=[stages.Train(epochs=args.epochs, lr=0.05),
                stages.Prune(target={"macs_speedup": 1.5}, round_to=None),
                stages.Distill(epochs=max(1, args.epochs // 2), lr=0.01),
                stages.Quantize(calibration={"samples": 32, "batch_size": 16},
                                cache_dir=args.out.parent / "calibration")])
    run = pipe.run(args.out)  # progress shows in a terminal or notebook; progress=False silences it
    runtime, batch = "onnxruntime-cpu", 1  # the table's latency column: one runtime at one batch size
    print(f"{'stage':10s} {'top-1':>7s} {'params':>8s}  p50 ms on {runtime}, batch {batch}")
    for name, metrics in run.metrics.items():
        p50 = next((r["p50_ms"] for r in metrics.latency
                    if r["runtime"] == runtime and r["batch_size"] == batch and r["status"] == "ok"), None)
        p50_text = f"{p50:.3f}" if p50 is not None else "-"
        print(f"{name:10s} {metrics.accuracy.top1:7.4f} {str(metrics.model.params):>8s}  {p50_text}")
    print(f"report: {run.report_path}")


if __name__ == "__main__":
    main()
