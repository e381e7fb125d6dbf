"""The frontier's Torch-Pruning peer: pruned to the MACs target, fine-tuned, and with `bf16` run under bf16
autocast exactly where the CPU has native bf16 kernels (as the toolkit's amp_cpu does)."""

from __future__ import annotations

import pytest
import torch

from benchmarks.peers import torch_pruning_finetune
from toolkit.config import ModelSpec
from toolkit.models import build_model


@pytest.mark.parametrize("bf16", [False, True])
def test_the_peer_fine_tunes_in_bf16_only_where_asked_and_native(bf16, monkeypatch):
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch="resnet20", kwargs={"width": 8}), 4, 8)
    example = torch.randn(1, 3, 8, 8)
    batches = [(torch.randn(8, 3, 8, 8), torch.randint(0, 4, (8,))) for _ in range(2)]
    seen: list[torch.dtype] = []
    real = torch.nn.functional.cross_entropy

    def spy(logits, labels, *args, **kwargs):
        seen.append(logits.dtype)
        return real(logits, labels, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", spy)
    peer = torch_pruning_finetune(model, example, 2.0, lambda epoch: iter(batches), 1, 0.01, 4, bf16=bf16)
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert seen == [torch.bfloat16 if bf16 and native else torch.float32] * 2
    assert sum(p.numel() for p in peer.parameters()) < sum(p.numel() for p in model.parameters())
    assert all(p.is_contiguous() for p in peer.parameters())  # back to NCHW for export
    assert not peer.training
