"""A custom stage: save the model as a torch.export program (.pt2) beside the other artifacts.

Register it with `@register_stage` on a function whose config parameter is annotated with your
config class (the mechanism the built-in stages use). It then works from Python, from YAML
(`plugins: [custom_stage]` in the recipe, or `compress --plugin custom_stage run ...`), appears in
`compress stages`, and is measured like any other stage.

    python examples/custom_stage.py --out runs/example-pt2 --epochs 2
    cd examples && compress --plugin custom_stage stages

A stage may change weights and shapes (pruning does); one that changes the module tree itself
cannot be rebuilt from code without pickle, so it should write its own file, as this one does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import Field
from torch import nn

from toolkit import Pipeline, StageConfig, StageContext, StageResult, register_stage, stages
from toolkit.registry import STAGES


class ExportProgram(StageConfig):
    """Save the model as a torch.export ExportedProgram (.pt2), checked against eager mode."""

    filename: str = Field("model.pt2", pattern=r"^[\w.-]+\.pt2$", description="file name in the stage folder")


def export_program(model: nn.Module, cfg: ExportProgram, ctx: StageContext) -> StageResult:
    """Write the .pt2 program; the torch model goes on unchanged to the next stage."""
    import torch

    model = model.eval()
    example = ctx.example_input(2)
    program = torch.export.export(model, (example,))
    torch.export.save(program, str(ctx.stage_dir / cfg.filename))
    with torch.no_grad():
        diff = float((program.module()(example) - model(example)).abs().max())
    ctx.log.info(f"saved {cfg.filename}: max |exported - eager| {diff:.2e}")
    return StageResult(None, {"file": cfg.filename, "max_abs_diff": diff}, {"program": cfg.filename})


if "export_program" not in STAGES:  # imported both as a plugin and as a script: register once
    register_stage("export_program")(export_program)


def main() -> None:
    """Train a small CIFAR ResNet on the digits, then save it with the custom stage."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/example-pt2"))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    pipe = Pipeline(model={"arch": "resnet20", "kwargs": {"width": 8}},
                    data={"dataset": "digits", "image_size": 16, "batch_size": 64},
                    measure={"runtimes": ["torch-cpu"], "batch_sizes": [1], "min_iters": 10},
                    stages=[stages.Train(epochs=args.epochs), ExportProgram()])
    run = pipe.run(args.out)
    saved = run.metrics["export_program"]
    print(f"{saved.extra.file}: max |difference| {saved.extra.max_abs_diff:.2e}, top-1 {saved.accuracy.top1:.4f}")
    print(f"report: {run.report_path}")


if __name__ == "__main__":
    main()
