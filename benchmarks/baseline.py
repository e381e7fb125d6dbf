"""Converged CIFAR-10 baselines for the benchmarks: train once, commit the weights, start every benchmark there.

    python -m benchmarks.baseline resnet20    # train (or resume), write benchmarks/baselines/resnet20_cifar10.*

Runs `benchmarks/baselines/<name>_cifar10.yaml` (the toolkit's own train stage, on all 50,000 training
photographs of ../shared/data) into benchmarks/work/baselines/ (ignored; an interrupted run resumes from its
last epoch), then writes beside the recipe the trained weights as safetensors (a plain state_dict, loadable as
`model: {arch: NAME, checkpoint: benchmarks/baselines/NAME_cifar10.safetensors}`) and a JSON record: top-1 on
the 10,000 test photographs, the training time, the machine, the versions and the file's SHA-256.
`baseline_checkpoint(name)` hands a benchmark that file after checking its hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from benchmarks.cifar import cifar10_root
from benchmarks.common import stamp

HERE = Path(__file__).parent / "baselines"
WORK = Path(__file__).parent / "work" / "baselines"
# The leg the ResNet-20 benchmarks start from (sweep; frontier and allocation through recipes/frontier_resnet20.yaml):
# the last and most trained one (baselines/README.md).
BENCHMARK_BASELINE = "resnet20_e311"


def baseline_checkpoint(name: str = BENCHMARK_BASELINE) -> Path:
    """The committed checkpoint of a baseline (default: the one the benchmarks use), its SHA-256 checked against
    its record.

    Raises FileNotFoundError when the baseline was not trained, ValueError when the file does not match."""
    record = json.loads((HERE / f"{name}_cifar10.json").read_text())
    path = HERE / record["file"]
    if _sha256(path) != record["sha256"]:
        raise ValueError(f"{path}: SHA-256 differs from {name}_cifar10.json; retrain with "
                         f"`python -m benchmarks.baseline {name}`")
    return path


def committed_record(checkpoint: Path) -> dict | None:
    """The record of the committed baseline whose file `checkpoint` is (matched by file name), its SHA-256
    checked; None when no record names that file. Raises ValueError when the file differs from its record."""
    for path in sorted(HERE.glob("*_cifar10.json")):
        record = json.loads(path.read_text())
        if record.get("file") == Path(checkpoint).name:
            if _sha256(Path(checkpoint)) != record["sha256"]:
                raise ValueError(f"{checkpoint}: SHA-256 differs from {path.name}; retrain that leg with "
                                 f"`python -m benchmarks.baseline {record.get('name', path.stem)}`")
            return record
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_baseline(name: str) -> dict:
    """Train (or resume) the baseline and write its checkpoint and record; returns the record."""
    from toolkit.recipe import load_recipe
    from toolkit.run.pipeline import Runner

    if cifar10_root() is None:
        raise SystemExit("CIFAR-10 is not here: ../shared/data/cifar10-jpeg.tar.gz is missing")
    recipe_path = HERE / f"{name}_cifar10.yaml"
    recipe = load_recipe(recipe_path, [f"output={WORK}"])
    result = Runner(recipe).run()
    train = result.stages[-1].directory  # the last training stage holds the baseline
    metrics = json.loads((train / "metrics.json").read_text())
    target = HERE / f"{name}_cifar10.safetensors"
    shutil.copyfile(train / "model.safetensors", target)
    stage_metrics = [json.loads((stage.directory / "metrics.json").read_text()) for stage in result.stages]
    # the training stages (a recipe with a teacher also has its input stage, which only measures the start)
    stage_metrics = [m for m in stage_metrics if "history" in m.get("extra", {})]
    history = [row for m in stage_metrics for row in m["extra"]["history"]]
    rates = sorted(r["images_per_s"] for r in history)
    record = {"name": name, "recipe": recipe_path.name, "file": target.name, "sha256": _sha256(target),
              "top1": metrics["accuracy"]["top1"], "top5": metrics["accuracy"].get("top5"),
              "test_images": metrics["accuracy"].get("samples"), "epochs": len(history),
              # wall time of the epochs, pauses and other jobs on the machine included; the median rate is the
              # undisturbed speed (most epochs ran alone)
              "train_seconds": round(sum(r["seconds"] for r in history), 1),
              "median_images_per_s": rates[len(rates) // 2],
              "stage_seconds": [m.get("seconds") for m in stage_metrics],
              "val_top1_by_epoch": {str(i + 1): r["val_top1"] for i, r in enumerate(history) if "val_top1" in r},
              **_weight_averaging(history, stage_metrics[-1]["extra"].get("swa")),
              "starts_from": _starts_from(recipe.model.checkpoint),
              **_teachers(stage_metrics[-1]["extra"].get("teacher"), recipe), **stamp()}
    (HERE / f"{name}_cifar10.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _weight_averaging(history: list[dict], swa: dict | None) -> dict:
    """For a leg trained with weight averaging: the average's val top-1 at each evaluation and its record."""
    if not swa:
        return {}
    return {"swa": swa, "swa_val_top1_by_epoch": {str(i + 1): r["swa_val_top1"] for i, r in enumerate(history)
                                                  if "swa_val_top1" in r}}


def _teachers(teacher, recipe) -> dict:
    """For a leg distilled from committed legs: each teacher's name, file, SHA-256, epochs and top-1 (a list
    for an ensemble), in place of the run's absolute checkpoint paths, and the top-1 of what taught (an
    ensemble's mean logits) on the test photographs."""
    if teacher is None or isinstance(teacher, (str, int)):
        return {}
    specs = [spec for spec in (teacher if isinstance(teacher, list) else [teacher]) if spec.get("checkpoint")]
    if not specs:
        return {}
    return {"teachers": [_starts_from(Path(spec["checkpoint"])) for spec in specs],
            "teacher_top1": _teacher_top1(specs, recipe)}


def _teacher_top1(specs: list[dict], recipe) -> float:
    """Top-1 on the recipe's test photographs of the teachers as the distill stage ran them (one model, or an
    EnsembleTeacher of the members' mean logits)."""
    import torch

    from toolkit.config import ModelSpec
    from toolkit.data import build_data
    from toolkit.distill.teacher import EnsembleTeacher
    from toolkit.measure.accuracy import evaluate, torch_predict
    from toolkit.models import build_model

    data = build_data(recipe.data, recipe.seed)
    members = [build_model(ModelSpec(**spec), data.num_classes, data.input_shape) for spec in specs]
    model = members[0] if len(members) == 1 else EnsembleTeacher(members)
    return evaluate(torch_predict(model.eval(), torch.device("cpu")), data.val_batches(), data.num_classes)["top1"]


def _starts_from(checkpoint: Path | None) -> dict | None:
    """The committed baseline a continuation leg starts from: its file, SHA-256, epochs and top-1 (None: from
    scratch)."""
    if checkpoint is None:
        return None
    try:
        earlier = committed_record(Path(checkpoint))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if earlier is not None:
        return {key: earlier[key] for key in ("name", "file", "sha256", "epochs", "top1")}
    return {"file": str(checkpoint), "sha256": _sha256(Path(checkpoint))}


def main() -> None:
    """Command line: python -m benchmarks.baseline NAME."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(p.stem.removesuffix("_cifar10") for p in HERE.glob("*_cifar10.yaml")))
    record = train_baseline(parser.parse_args().name)
    print(f"{record['name']}: top-1 {record['top1'] * 100:.2f}% on {record['test_images']} test photographs after "
          f"{record['epochs']} epochs ({record['train_seconds'] / 3600:.2f} h of training); {record['file']} "
          f"sha256 {record['sha256'][:16]}...")


if __name__ == "__main__":
    main()
