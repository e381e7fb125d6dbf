"""Quantization-aware training with torch's fake-quant modules (FX), exported as Q/DQ ONNX."""

from __future__ import annotations

import copy

import torch
from torch import nn

from toolkit.errors import UserInputError


def _qconfig(scheme: str):
    from torch.ao.quantization import (
        FakeQuantize,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        QConfig,
    )

    if scheme == "tensorrt":  # symmetric int8, zero point 0
        act = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127,
                                     dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    else:  # asymmetric uint8 activations for x86 VNNI kernels
        act = FakeQuantize.with_args(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
                                     dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    weight = FakeQuantize.with_args(observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                    dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)
    return QConfig(activation=act, weight=weight)


def prepare_qat(model: nn.Module, scheme: str, example: torch.Tensor) -> nn.Module:
    """Fold BatchNorm into convolutions, then insert fake-quant on weights and activations (torch.ao FX).

    Both BatchNorm modules and BatchNorm the tracer sees as `F.batch_norm` (timm's BatchNormAct2d) are folded,
    so the INT8 export keeps no float BatchNormalization after a convolution. `model` is not changed.
    Raises UserInputError when torch.fx cannot trace the model.
    """
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx
    from torch.fx.experimental.optimization import fuse as fold_batchnorm

    from toolkit.quantize.qat_fold import fold_functional_batchnorm

    try:
        folded = fold_batchnorm(copy.deepcopy(model).cpu().eval())
        fold_functional_batchnorm(folded)
        return prepare_qat_fx(folded.train(), QConfigMapping().set_global(_qconfig(scheme)),
                              example_inputs=(example[:1].cpu(),))
    except Exception as exc:  # noqa: BLE001 - symbolic tracing fails on data-dependent control flow
        raise UserInputError(f"quantize.qat: the model cannot be traced by torch.fx for QAT "
                             f"({type(exc).__name__}: {str(exc)[:200]}); use post-training quantization") from None


def freeze_qat(prepared: nn.Module) -> nn.Module:
    """Stop observers (ranges are final) and switch to eval mode for export."""
    from torch.ao.quantization import disable_observer

    prepared.apply(disable_observer)
    return prepared.eval()
