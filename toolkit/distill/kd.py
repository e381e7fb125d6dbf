"""Knowledge distillation: the loss, teacher resolution and feature hints (used by the distill and QAT stages)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float, alpha: float,
            label_smoothing: float = 0.0) -> torch.Tensor:
    """alpha * T^2 * KL(p_teacher || p_student) at temperature T + (1 - alpha) * CE(student, labels).

    The KL term is Hinton et al.'s soft-target loss: the teacher's softened distribution is the target
    (PyTorch's kl_div(log p_student, p_teacher)); T^2 keeps its gradients on the scale of the CE term.
    """
    t = temperature
    soft = F.kl_div(F.log_softmax(student.float() / t, dim=1), F.softmax(teacher.float() / t, dim=1),
                    reduction="batchmean") * (t * t)
    hard = F.cross_entropy(student, labels, label_smoothing=label_smoothing)
    return alpha * soft + (1 - alpha) * hard


class FeatureHints(nn.Module):
    """MSE between student and teacher feature maps, through learned 1x1 adapters where channels differ."""

    def __init__(self, student: nn.Module, teacher: nn.Module, pairs: list[tuple[str, str]],
                 example: torch.Tensor):
        super().__init__()
        self.pairs = pairs
        self.student_modules = [student.get_submodule(s) for s, _ in pairs]
        self.teacher_modules = [teacher.get_submodule(t) for _, t in pairs]
        with torch.no_grad(), self.capture() as (s_out, t_out):
            student.eval()(example)
            teacher.eval()(example)
        self.adapters = nn.ModuleList()
        for (s_name, t_name), s_feat, t_feat in zip(pairs, s_out, t_out):
            if s_feat.ndim != t_feat.ndim:
                raise ValueError(f"features: '{s_name}' ({s_feat.ndim}-D) and '{t_name}' ({t_feat.ndim}-D) differ")
            s_ch, t_ch = s_feat.shape[1], t_feat.shape[1]
            if s_ch == t_ch:
                self.adapters.append(nn.Identity())
            elif s_feat.ndim == 4:
                self.adapters.append(nn.Conv2d(s_ch, t_ch, 1, bias=False))
            else:
                self.adapters.append(nn.Linear(s_ch, t_ch, bias=False))
        self._student_out: list[torch.Tensor] = []
        self._teacher_out: list[torch.Tensor] = []

    @contextlib.contextmanager
    def capture(self) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor]]]:
        """Record the paired modules' outputs during forward passes inside the block."""
        s_out: list[torch.Tensor] = []
        t_out: list[torch.Tensor] = []
        hooks = [m.register_forward_hook(lambda mod, i, o: s_out.append(o)) for m in self.student_modules]
        hooks += [m.register_forward_hook(lambda mod, i, o: t_out.append(o)) for m in self.teacher_modules]
        try:
            yield s_out, t_out
        finally:
            for hook in hooks:
                hook.remove()

    def loss(self, s_out: list[torch.Tensor], t_out: list[torch.Tensor]) -> torch.Tensor:
        """Mean MSE over the pairs (student resized to the teacher's spatial size where they differ)."""
        total = torch.zeros((), device=s_out[0].device)
        for adapter, s, t in zip(self.adapters, s_out, t_out):
            s = adapter(s)
            if s.ndim == 4 and s.shape[-2:] != t.shape[-2:]:
                s = F.adaptive_avg_pool2d(s, t.shape[-2:])
            total = total + F.mse_loss(s.float(), t.detach().float())
        return total / len(self.adapters)


def default_teacher(earlier: list[tuple[str, str, str]]) -> str | None:
    """The last torch model before the first prune stage, or the last earlier one when nothing prunes.

    None means the input model: the recipe starts with a prune stage (or nothing came before this one).
    """
    types = [t for _, t, _ in earlier]
    upto = types.index("prune") if "prune" in types else len(earlier)
    candidates = [n for n, _, f in earlier[:upto] if f == "torch"]
    return candidates[-1] if candidates else None
