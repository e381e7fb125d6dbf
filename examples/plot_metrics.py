"""Read a run's metrics and make your own plot: top-1 against p50 latency per stage on one runtime.

    python examples/plot_metrics.py runs/quickstart --runtime openvino-cpu --out my-plot.png

Every number comes from the run folder's JSON (run.json lists the stages, each NN-<stage>/metrics.json
holds accuracy, model size and latency records), so this works on a copied run folder too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def stage_points(run_dir: Path, runtime: str, batch_size: int) -> list[tuple[str, float, float]]:
    """(stage, p50 ms, top-1 %) for every measured stage."""
    run = json.loads((run_dir / "run.json").read_text())
    points = []
    for stage in run["stages"]:
        metrics_file = run_dir / stage["dir"] / "metrics.json"
        if stage["status"] != "ok" or not metrics_file.is_file():
            continue
        metrics = json.loads(metrics_file.read_text())
        top1 = (metrics.get("accuracy") or {}).get("top1")
        record = next((r for r in metrics.get("latency", []) if r["runtime"] == runtime
                       and r["batch_size"] == batch_size and r["status"] == "ok"), None)
        if top1 is not None and record is not None:
            points.append((stage["name"], record["p50_ms"], top1 * 100))
    return points


def main() -> None:
    """Plot and save a PNG."""
    from matplotlib.figure import Figure

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--runtime", default="onnxruntime-cpu")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("stages.png"))
    args = parser.parse_args()
    points = stage_points(args.run_dir, args.runtime, args.batch_size)
    if not points:
        raise SystemExit(f"no stage of {args.run_dir} was measured on {args.runtime} at batch {args.batch_size}")
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot([p[1] for p in points], [p[2] for p in points], marker="o")
    for name, ms, top1 in points:
        ax.annotate(name, (ms, top1), xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.set(xlabel=f"p50 latency on {args.runtime}, batch {args.batch_size} (ms)", ylabel="top-1 (%)",
           title=args.run_dir.name)
    ax.grid(True, alpha=0.3)
    fig.savefig(args.out, dpi=120)
    print(f"{len(points)} stages -> {args.out}")


if __name__ == "__main__":
    main()
