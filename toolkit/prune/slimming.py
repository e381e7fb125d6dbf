"""Network slimming: train with an L1 penalty on BatchNorm scales so unimportant channels go to zero."""

from __future__ import annotations

import torch
from torch import nn

from toolkit.prune.channels import PrunePlan, classifier_of
from toolkit.prune.config import Prune
from toolkit.site import TrainingEnv
from toolkit.train.loop import fit


def sparsity_training(model: nn.Module, cfg: Prune, plan: PrunePlan, example: torch.Tensor, env: TrainingEnv) -> dict:
    """Train cfg.sparsity.epochs with Torch-Pruning's BNScalePruner.regularize after each backward pass
    (Liu et al., "Learning Efficient Convolutional Networks through Network Slimming", ICCV 2017)."""
    import torch_pruning as tp

    head = classifier_of(model, example, plan.num_classes)
    pruner = tp.pruner.BNScalePruner(model, example[:1].cpu(), importance=tp.importance.BNScaleImportance(),
                                     reg=cfg.sparsity.reg, ignored_layers=[head] if head is not None else None)
    opts = cfg.finetune.model_copy(update={"epochs": cfg.sparsity.epochs, "lr": cfg.sparsity.lr})
    result = fit(model, opts, env, tag="sparsity", regularizer=pruner.regularize)
    model.cpu().eval()
    return result
