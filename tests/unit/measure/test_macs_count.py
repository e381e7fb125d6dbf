"""MACs are counted where convolutions and matrix products execute, whatever module class runs them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from toolkit.measure.profile import count_macs_params
from toolkit.models.cifar_resnet import CifarResNet


class _OwnForwardConv(nn.Conv2d):
    """A Conv2d subclass that calls F.conv2d itself, as timm's ScaledStdConv2d and Conv2dSame do."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * 1.0, self.bias, self.stride, self.padding, self.dilation, self.groups)


def test_resnet20_has_its_published_40_8_m_macs_and_272k_parameters():
    macs, params = count_macs_params(CifarResNet(20), torch.randn(4, 3, 32, 32))
    assert round(macs / 1e6, 1) == 40.8 and params == 272_474


def test_a_conv_subclass_with_its_own_forward_counts_like_a_plain_conv():
    plain = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    subclass = nn.Sequential(_OwnForwardConv(3, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    example = torch.randn(2, 3, 8, 8)
    conv_macs = 16 * 8 * 8 * 3 * 3 * 3
    linear_macs = 16 * 8 * 8 * 10
    assert count_macs_params(plain, example)[0] == conv_macs + linear_macs
    assert count_macs_params(subclass, example) == count_macs_params(plain, example)


def test_counting_leaves_the_model_and_its_batchnorm_statistics_alone():
    model = CifarResNet(8).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_macs_params(model, torch.randn(2, 3, 32, 32) * 5)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class _Attention(nn.Module):
    """(N, L, E) tokens through nn.MultiheadAttention, then scaled_dot_product_attention on the result."""

    def __init__(self, embed: int = 64, heads: int = 4):
        super().__init__()
        self.mha = nn.MultiheadAttention(embed, heads, batch_first=True)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mha(x, x, x, need_weights=False)[0]
        n, length, embed = x.shape
        q = x.view(n, length, self.heads, embed // self.heads).transpose(1, 2)
        return F.scaled_dot_product_attention(q, q, q)


def test_attention_counts_its_projections_and_both_products_on_the_cpu():
    # The CPU's fused kernels (MultiheadAttention's inference fast path, SDPA's CPU kernel) have no FLOP formula
    # and counted 0; L tokens of E channels: projections 4 L E^2, Q K^T and A V 2 L^2 E, twice for the SDPA
    length, embed = 16, 64
    macs, _ = count_macs_params(_Attention(embed), torch.randn(1, length, embed))
    assert macs == 4 * length * embed**2 + 2 * length**2 * embed + 2 * length**2 * embed
    assert torch.backends.mha.get_fastpath_enabled()  # restored after counting
