"""Pruning: methods, targets, rounding, ignored layers, every CNN family, ShuffleNet, persistence."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from toolkit.errors import ToolkitError, UserInputError
from toolkit.measure.profile import count_macs_params
from toolkit.models import build_model, load_model
from toolkit.models.io import save_model
from toolkit.prune import PrunePlan, channel_counts, prune_once, search_ratio
from toolkit.prune.channels import shuffle_blocks
from toolkit.config import ModelSpec


def tv(arch, classes=10, **kwargs):
    return build_model(ModelSpec(arch=arch, kwargs=kwargs), classes).eval()


def test_search_lands_resnet18_within_5_percent_of_2x_macs():
    model, x = tv("resnet18"), torch.randn(1, 3, 64, 64)
    base = count_macs_params(model, x)[0]
    plan = PrunePlan(num_classes=10)

    def achieved(ratio):
        return base / count_macs_params(prune_once(copy.deepcopy(model), x, plan, ratio), x)[0]

    ratio, speedup, trials = search_ratio(achieved, 2.0, high=0.8)
    pruned = prune_once(model, x, plan, ratio)
    assert 1.9 <= base / count_macs_params(pruned, x)[0] <= 2.1
    assert speedup == pytest.approx(base / count_macs_params(pruned, x)[0])


def test_an_unreachable_target_is_explained():
    with pytest.raises(ToolkitError, match="cannot be reached"):
        search_ratio(lambda r: 1 + r, 5.0, high=0.8)


def test_round_to_makes_channel_counts_multiples():
    model, x = tv("resnet18"), torch.randn(1, 3, 32, 32)
    before = channel_counts(model)
    prune_once(model, x, PrunePlan(round_to=16, num_classes=10), 0.37)
    after = channel_counts(model)
    changed = {n: c for n, c in after.items() if c != before[n]}
    assert changed and all(c % 16 == 0 for c in changed.values())
    assert after["fc"] == 10


def test_ignored_layers_keep_their_shapes_in_and_out():
    model, x = tv("resnet18"), torch.randn(1, 3, 32, 32)
    shapes = {n: m.weight.shape for n, m in model.named_modules() if n.startswith("layer2") and hasattr(m, "weight")}
    solo = model.layer1[0].conv1.weight.shape
    prune_once(model, x, PrunePlan(ignore=["layer2.*", "layer1.0.conv1"], num_classes=10), 0.5)
    assert {n: m.weight.shape for n, m in model.named_modules() if n in shapes} == shapes
    assert model.layer1[0].conv1.weight.shape == solo
    assert model.layer3[0].conv1.out_channels < 256  # elsewhere pruning happened
    assert model(x).shape == (1, 10)


def test_an_ignore_pattern_that_matches_nothing_is_a_clear_error():
    with pytest.raises(UserInputError, match="matches no module"):
        prune_once(tv("resnet18"), torch.randn(1, 3, 32, 32), PrunePlan(ignore=["layer9.*"]), 0.5)


@pytest.mark.parametrize("method", ["l1", "l2", "lamp", "fpgm", "random", "bn_scale", "taylor"])
def test_each_criterion_prunes(method):
    model, x = tv("resnet20", width=8), torch.randn(4, 3, 16, 16)
    plan = PrunePlan(method=method, num_classes=10, round_to=None)
    if method == "taylor":
        plan.gradients = lambda m: nn.functional.cross_entropy(m(x), torch.tensor([0, 1, 2, 3])).backward()
    before = count_macs_params(model, x)[1]
    prune_once(model, x, plan, 0.5)
    assert count_macs_params(model, x)[1] < before
    assert model(x).shape == (4, 10)


def test_random_criterion_is_reproducible_for_a_seed():
    x, model = torch.randn(1, 3, 16, 16), tv("resnet20", width=8)
    a, b, c = (prune_once(copy.deepcopy(model), x, PrunePlan(method="random", seed=s, round_to=None), 0.5)
               for s in (3, 3, 4))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), c.state_dict().values()))


def test_pruned_model_round_trips_through_safetensors_exactly(tmp_path):
    spec = ModelSpec(arch="resnet20", kwargs={"width": 8})
    model, x = build_model(spec, 10).eval(), torch.randn(2, 3, 16, 16)
    prune_once(model, x, PrunePlan(num_classes=10, round_to=None), 0.5)
    save_model(model, tmp_path, {"model": spec.model_dump(mode="json"), "num_classes": 10, "image_size": 16})
    loaded = load_model(tmp_path)
    assert torch.equal(model(x), loaded(x))
    assert channel_counts(loaded) == channel_counts(model)


FAMILIES = [
    ("alexnet", 64, {}), ("vgg11", 32, {}), ("vgg11_bn", 32, {}), ("googlenet", 64, {}),
    ("inception_v3", 75, {}), ("resnet18", 32, {}), ("resnext50_32x4d", 32, {}), ("wide_resnet50_2", 32, {}),
    ("densenet121", 32, {}), ("mobilenet_v2", 32, {}), ("mobilenet_v3_small", 32, {}),
    ("mobilenet_v3_large", 32, {}), ("efficientnet_b0", 32, {}), ("efficientnet_v2_s", 32, {}),
    ("regnet_x_400mf", 32, {}), ("regnet_y_400mf", 32, {}), ("mnasnet0_5", 32, {}), ("squeezenet1_1", 64, {}),
    ("convnext_tiny", 32, {}), ("shufflenet_v2_x0_5", 32, {}), ("seed_cnn", 32, {}), ("resnet20", 32, {}),
    ("resnet56", 32, {"width": 8}),
]
# Their 4096-wide classifiers are 100-130 M weights that only slow this test down: the convolutions, the pooling
# and the flatten into the first Linear stay, and a 64-wide classifier of the same layers follows.
NARROW_CLASSIFIER = ("alexnet", "vgg11", "vgg11_bn")


@pytest.mark.slow
@pytest.mark.parametrize("arch,size,kwargs", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_every_cnn_family_prunes_and_exports_to_onnx(arch, size, kwargs, tmp_path):
    from toolkit.artifacts import ModelArtifact
    from toolkit.convert.onnx import export_onnx
    from toolkit.runtimes import get_runtime

    torch.manual_seed(0)
    model = build_model(ModelSpec(arch=arch, kwargs=kwargs), 10, size).eval()
    if arch in NARROW_CLASSIFIER:
        from tiny_families import narrow_head  # tests/helpers

        model.classifier = narrow_head(next(m for m in model.classifier if isinstance(m, nn.Linear)).in_features, 10)
        model.eval()
    x = torch.randn(1, 3, size, size)
    before = count_macs_params(model, x)
    prune_once(model, x, PrunePlan(num_classes=10), 0.5)
    after = count_macs_params(model, x)
    assert after[0] < before[0] and after[1] < before[1]
    with torch.no_grad():
        out = model(x)
    assert out.shape == (1, 10)
    export_onnx(model, tmp_path / "m.onnx", x)
    onnx_out = get_runtime("onnxruntime-cpu").load(ModelArtifact("onnx", tmp_path / "m.onnx")).predict(x.numpy())
    assert np.abs(onnx_out - out.numpy()).max() < 1e-3 * max(1.0, float(out.abs().max()))


def test_shufflenet_prunes_inside_blocks_and_keeps_shuffled_channels():
    model, x = tv("shufflenet_v2_x0_5"), torch.randn(1, 3, 32, 32)
    outs = [b.branch2[-3].out_channels for b in shuffle_blocks(model)]
    inner = [b.branch2[0].out_channels for b in shuffle_blocks(model)]
    prune_once(model, x, PrunePlan(num_classes=10), 0.5)
    assert [b.branch2[-3].out_channels for b in shuffle_blocks(model)] == outs
    assert all(a < b for a, b in zip([b.branch2[0].out_channels for b in shuffle_blocks(model)], inner))


def test_inspector_explains_groups_and_blocked_models():
    from toolkit.prune.inspect import format_inspection, inspect_model

    report = inspect_model(tv("resnet18"), torch.randn(1, 3, 32, 32), 10)
    assert report["prunable"] and report["groups"] and report["ignored"][0]["module"] == "fc"
    assert report["test_prune"]["output_shape_kept"]
    text = format_inspection(report, "resnet18")
    assert "kept whole" in text and "fc: final classifier" in text

    blocked = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.PixelShuffle(2), nn.Conv2d(4, 8, 3),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    report = inspect_model(blocked, torch.randn(1, 3, 16, 16), 10)
    assert any(b["module"] == "1" and "pixel shuffle" in b["why"] for b in report["blocking"])


def test_a_torch_pruning_failure_is_one_toolkit_error_pointing_at_inspect_and_drops_gradients():
    from toolkit.errors import ToolkitError, UserInputError
    from toolkit.prune.channels import torch_pruning_errors

    model = torch.nn.Linear(2, 2)
    model(torch.ones(1, 2)).sum().backward()
    expected = r"could not prune this model \(RuntimeError: dependency\).*compress inspect"
    with pytest.raises(ToolkitError, match=expected):
        with torch_pruning_errors(model, "this model"):
            raise RuntimeError("dependency")
    assert model.weight.grad is None
    with pytest.raises(UserInputError, match="own message"):  # the toolkit's errors pass through unchanged
        with torch_pruning_errors(model, "this model"):
            raise UserInputError("own message")
