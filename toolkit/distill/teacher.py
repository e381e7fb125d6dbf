"""Teachers for knowledge distillation: which model a teacher reference names, loaded and frozen.

Used by the distill stage and by QAT's distillation; on plain arguments (earlier stages, the input model's
spec, the data's class count), never the recipe or the stage context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from toolkit.config import InputShape, ModelSpec
from toolkit.distill.kd import default_teacher
from toolkit.errors import UserInputError


class EnsembleTeacher(nn.Module):
    """Several teachers as one: images (N, C, H, W) -> the mean of the members' logits (N, classes).

    Softened at any KD temperature T, the mean logits give the normalised geometric mean of the members'
    softened distributions, one of the two ensemble targets of Hinton et al., "Distilling the Knowledge in a
    Neural Network" (2015). Members are run in order, so peak memory is one member's activations."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        total = self.members[0](images).float()
        for member in self.members[1:]:
            total = total + member(images).float()
        return total / len(self.members)


def load_teacher(ref: str | int | ModelSpec | list | None, earlier: Sequence[Any], input_spec: ModelSpec,
                 num_classes: int, input_shape: InputShape) -> nn.Module:
    """Resolve a teacher reference to a torch model.

    `ref`: an earlier stage's name or 0-based recipe index, 'input', a model spec, None (the default teacher: the
    last model before the first prune stage), or a list of these (an EnsembleTeacher). `earlier`: the run's
    completed stages (toolkit.context.EarlierStage: index, name, type, format, load()). `input_spec`: the input
    model's spec, rebuilt for 'input' when no input stage exists; a spec is built for `input_shape` (channels,
    height, width).
    Raises UserInputError for an in-memory input model, KeyError for an unknown stage, TypeError for a stage that
    did not produce a torch model.
    """
    from toolkit.models import build_model

    if isinstance(ref, list):
        return EnsembleTeacher([load_teacher(r, earlier, input_spec, num_classes, input_shape) for r in ref])
    if isinstance(ref, ModelSpec):
        return build_model(ref, num_classes, input_shape)
    if ref is None:
        ref = default_teacher([(e.name, e.type, e.format) for e in earlier if e.index > 0]) or "input"
    if ref == "input":
        input_stage = next((e for e in earlier if e.index == 0), None)
        if input_stage is not None:
            return input_stage.load()
        if input_spec.arch.startswith("<"):
            raise UserInputError("distill.teacher: 'input' names the untrained input model, which an in-memory "
                                 "model cannot be rebuilt as; name a stage instead")
        return build_model(input_spec, num_classes, input_shape)
    stage = next((e for e in earlier if (isinstance(ref, int) and e.index - 1 == ref) or e.name == ref), None)
    if stage is None:
        raise KeyError(f"no earlier stage '{ref}'")
    model = stage.load()
    if not isinstance(model, nn.Module):
        raise TypeError(f"stage '{ref}' produced {model.format}, not a torch model")
    return model


def teacher_record(ref: str | int | ModelSpec | list | None, earlier: Sequence[Any]) -> Any:
    """The teacher as a stage's record names it: a stage name or index, a model spec's fields, the default
    teacher's stage name ('input' for the input model), or a list of these for an ensemble. `earlier` as for
    load_teacher."""
    if isinstance(ref, list):
        return [teacher_record(member, earlier) for member in ref]
    if isinstance(ref, ModelSpec):
        return ref.model_dump(mode="json")
    return ref if ref is not None else default_teacher(
        [(e.name, e.type, e.format) for e in earlier if e.index > 0]) or "input"


def teacher_logits_fn(teacher: nn.Module, device: torch.device, fp16: bool
                      ) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """The teacher on `device`, frozen in eval mode, and a function images (N, C, H, W) -> logits (N, classes)
    in fp32 (run in fp16 autocast on CUDA when `fp16`)."""
    teacher = teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    half = fp16 and device.type == "cuda"

    def logits(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=half):
            return teacher(images).float()

    return teacher, logits
