"""Every torchvision CNN family and seed_cnn, quantized as the tensorrt scheme's quantize stage does it
(export, ORT pre-processing, ModelOpt PTQ), passes the TensorRT Q/DQ placement check.

Tiny inputs, random weights and one calibration batch: placement depends on the graph, not on the values.
The heaviest graphs use a shallower or narrower member of their family (the same blocks; for densenet,
efficientnet_b0, regnet, googlenet and inception_v3 the members tests/e2e/test_families.py trains, from
tests/helpers) to keep the test short; vgg and alexnet get a narrow classifier for the same reason (their
4096-wide one is 100M weights).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from toolkit.models import build_model
from toolkit.convert.onnx import export_onnx
from toolkit.quantize.modelopt_ptq import quantize_modelopt
from toolkit.quantize.placement import check_placement, summarize
from toolkit.quantize.ptq import BatchReader, preprocess, qdq_summary
from toolkit.config import ModelSpec

FAMILIES = {  # family -> (torchvision name, input size)
    "resnet": ("resnet18", 32), "vgg": ("vgg11", 32), "alexnet": ("alexnet", 64), "googlenet": ("googlenet", 32),
    "inception_v3": ("inception_v3", 75), "densenet": ("densenet121", 32), "mobilenet_v2": ("mobilenet_v2", 32),
    "mobilenet_v3": ("mobilenet_v3_small", 32), "efficientnet_b0": ("efficientnet_b0", 32),
    "efficientnet_v2_s": ("efficientnet_v2_s", 32), "regnet": ("regnet_x_400mf", 32), "mnasnet": ("mnasnet0_5", 32),
    "shufflenet_v2": ("shufflenet_v2_x0_5", 32), "squeezenet": ("squeezenet1_0", 32),
    "convnext_tiny": ("convnext_tiny", 32), "seed_cnn": ("seed_cnn", 32),
}


def _shallow(arch: str) -> nn.Module | None:
    """A shallower member of a heavy family: the same block types, fewer and narrower stages."""
    from torchvision.models import convnext, efficientnet

    import tiny_families  # tests/helpers (on sys.path from tests/conftest.py)

    narrowed = {"densenet121": tiny_families.densenet, "efficientnet_b0": tiny_families.efficientnet,
                "regnet_x_400mf": tiny_families.regnet, "googlenet": tiny_families.googlenet,
                "inception_v3": tiny_families.inception}
    if arch in narrowed:
        return narrowed[arch](num_classes=10)
    if arch == "convnext_tiny":
        return convnext.ConvNeXt([convnext.CNBlockConfig(16, 32, 1), convnext.CNBlockConfig(32, None, 1)],
                                 num_classes=10)
    if arch == "efficientnet_v2_s":
        settings = [efficientnet.FusedMBConvConfig(1, 3, 1, 16, 16, 1),
                    efficientnet.FusedMBConvConfig(4, 3, 2, 16, 24, 1),
                    efficientnet.MBConvConfig(4, 3, 2, 24, 32, 1), efficientnet.MBConvConfig(6, 3, 1, 32, 40, 1)]
        return efficientnet.EfficientNet(settings, 0.2, num_classes=10, last_channel=64)
    return None


def family_model(arch: str) -> nn.Module:
    model = _shallow(arch) or build_model(ModelSpec(arch=arch), 10, FAMILIES_SIZE[arch])
    if arch in ("vgg11", "alexnet"):  # same layer types, a narrow classifier
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        width = 512 if arch == "vgg11" else 256
        model.classifier = nn.Sequential(nn.Dropout(), nn.Linear(width, 64), nn.ReLU(True), nn.Dropout(),
                                         nn.Linear(64, 64), nn.ReLU(True), nn.Linear(64, 10))
    return model.eval()


FAMILIES_SIZE = {arch: size for arch, size in FAMILIES.values()}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_tensorrt_scheme_placement_passes_on_every_cnn_family(family, tmp_path):
    arch, size = FAMILIES[family]
    torch.manual_seed(0)
    model = family_model(arch)
    example = torch.randn(2, 3, size, size)
    export_onnx(model, tmp_path / "fp32.onnx", example)
    preprocess(tmp_path / "fp32.onnx", tmp_path / "prep.onnx")
    quantize_modelopt(tmp_path / "prep.onnx", tmp_path / "int8.onnx", method="minmax",
                      reader=BatchReader([example], "input"), cache_file=tmp_path / "scales.cache")
    qdq = qdq_summary(tmp_path / "int8.onnx")
    assert qdq["quantize_nodes"] > 0 and "Conv" in qdq["quantized_ops"], qdq
    summary = summarize(check_placement(tmp_path / "int8.onnx"))
    assert summary["ok"], summary["findings"][:5]
