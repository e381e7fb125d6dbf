"""Parameters and MACs of a torch model on a real input shape, counted by torch's own FlopCounterMode."""

from __future__ import annotations

import copy

import torch
from torch import nn


def count_macs_params(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """(MACs, parameters) for one image of `example`'s shape (N, C, H, W; only the first image runs).

    MACs are the multiply-accumulates of convolutions and matrix products (linear layers, attention), counted
    where they execute -- at the aten operator level, by torch.utils.flop_counter.FlopCounterMode, as FLOPs / 2.
    Why not a per-module-type counter (Torch-Pruning's count_ops_and_params, thop): those match the module's exact
    class, so a Conv2d subclass that calls F.conv2d itself (timm's ScaledStdConv2d, Conv2dSame) counts as zero --
    nf_resnet26 at 64x64 came out as 2.7 M MACs instead of 193 M. Normalisation and activations are not counted
    (the fvcore convention), nor are recurrent layers (LSTM): ResNet-20 at 32x32 is 40.8 M MACs. Parameters are
    the unique tensors of model.parameters(), shared ones once.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    probe = copy.deepcopy(model).cpu().eval()  # eval: a forward in train mode would move BatchNorm statistics
    # Fused attention kernels have no FLOP formula on the CPU (nn.MultiheadAttention's inference fast path,
    # scaled_dot_product_attention's CPU kernel): counted as 0. The math path runs the same products as matmuls.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            probe(example[:1].cpu())
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops()) // 2, sum(p.numel() for p in probe.parameters())
