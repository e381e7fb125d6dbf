"""Every model kind builds; saved models load back exactly without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from toolkit.errors import ArtifactError, UserInputError
from toolkit.models import build_model, check_arch, load_model
from toolkit.models.io import save_model
from toolkit.config import ModelSpec


@pytest.mark.parametrize("arch,size,kwargs", [
    ("seed_cnn", 32, {}), ("resnet20", 32, {}), ("resnet56", 16, {"width": 4}),
    ("resnet18", 32, {}), ("mobilenet_v2", 32, {"width_mult": 0.25}), ("user_models:tiny_net", 16, {}),
])
def test_each_model_kind_builds_and_classifies(arch, size, kwargs):
    model = build_model(ModelSpec(arch=arch, kwargs=kwargs), num_classes=7, input_shape=size).eval()
    assert model(torch.randn(2, 3, size, size)).shape == (2, 7)


def test_small_input_keeps_resolution_of_resnet_stems():
    plain = build_model(ModelSpec(arch="resnet18"), 10)
    small = build_model(ModelSpec(arch="resnet18", small_input=True), 10)
    assert plain.conv1.stride == (2, 2) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, torch.nn.Identity)


@pytest.mark.parametrize("arch,size", [("googlenet", 64), ("inception_v3", 75)])
def test_torchvision_models_with_auxiliary_heads_train_on_plain_logits(arch, size):
    # In train mode these return (logits, aux...) unless built without their auxiliary heads; the training
    # loop expects one logits tensor. (tests/e2e/test_families.py trains narrowed copies built otherwise.)
    model = build_model(ModelSpec(arch=arch), num_classes=7, input_shape=size).train()
    out = model(torch.randn(2, 3, size, size))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 7)


def test_checkpoint_is_loaded_strictly(tmp_path):
    spec = ModelSpec(arch="resnet20", kwargs={"width": 4})
    source = build_model(spec, 10)
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "w.pt")
    loaded = build_model(spec.model_copy(update={"checkpoint": tmp_path / "w.pt"}), 10)
    assert torch.equal(loaded.fc.weight, source.fc.weight)
    wrong = build_model(ModelSpec(arch="resnet20", kwargs={"width": 8}), 10)
    torch.save(wrong.state_dict(), tmp_path / "wrong.pt")
    with pytest.raises(ArtifactError, match="shape differs.*check model.arch and model.kwargs"):
        build_model(spec.model_copy(update={"checkpoint": tmp_path / "wrong.pt"}), 10)
    with pytest.raises(ArtifactError, match=r"fc.weight \(10, 16\) in the file, \(2, 16\) in the model.*"
                                            r"classifier fc has 10 outputs, the model's 2 .*model.num_classes: 10"):
        build_model(spec.model_copy(update={"checkpoint": tmp_path / "w.pt"}), 2)  # 10 classes saved, 2 asked


def test_missing_offline_weights_say_where_to_put_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ArtifactError, match="checkpoints"):
        build_model(ModelSpec(arch="resnet18", weights="IMAGENET1K_V1"), 10)
    with pytest.raises(UserInputError, match="unknown weights"):
        build_model(ModelSpec(arch="resnet18", weights="NOPE"), 10)


def test_check_arch_explains_unknown_names():
    assert check_arch("resnet20") is None and check_arch("vgg11_bn") is None
    assert "did you mean 'resnet18'" in check_arch("resnet19")
    assert "cannot find module" in check_arch("no_such_pkg.mod:fn")


def _saved(tmp_path, arch="resnet20"):
    spec = ModelSpec(arch=arch, kwargs={"width": 4})
    model = build_model(spec, 5).eval()
    save_model(model, tmp_path, {"model": spec.model_dump(mode="json"), "num_classes": 5, "image_size": 16})
    return model


def test_save_load_round_trip_is_exact_and_pickle_free(tmp_path):
    model = _saved(tmp_path)
    x = torch.randn(3, 3, 16, 16)
    loaded = load_model(tmp_path)
    assert torch.equal(model(x), loaded(x))
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))


def test_shrunk_modules_are_rebuilt_from_the_structure(tmp_path):
    spec = ModelSpec(arch="resnet20", kwargs={"width": 4})
    model = build_model(spec, 5).eval()
    conv, bn, nxt = model.layer1[0].conv1, model.layer1[0].bn1, model.layer1[0].conv2
    keep = torch.arange(2)  # shrink 4 -> 2 channels by hand, as a pruner would
    conv.weight = torch.nn.Parameter(conv.weight.data[keep])
    conv.out_channels = 2
    bn.weight, bn.bias = torch.nn.Parameter(bn.weight.data[keep]), torch.nn.Parameter(bn.bias.data[keep])
    bn.running_mean, bn.running_var, bn.num_features = bn.running_mean[keep], bn.running_var[keep], 2
    nxt.weight = torch.nn.Parameter(nxt.weight.data[:, keep])
    nxt.in_channels = 2
    save_model(model, tmp_path, {"model": spec.model_dump(mode="json"), "num_classes": 5, "image_size": 16})
    loaded = load_model(tmp_path)
    x = torch.randn(2, 3, 16, 16)
    assert loaded.layer1[0].conv1.out_channels == 2
    assert torch.equal(model(x), loaded(x))


def test_truncated_weights_fail_with_the_file_named(tmp_path):
    _saved(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="model.safetensors"):
        load_model(tmp_path)


def test_tampered_structure_fails_with_the_file_named(tmp_path):
    _saved(tmp_path)
    path = tmp_path / "structure.json"
    data = json.loads(path.read_text())
    data["modules"]["fc"]["attrs"]["__class__"] = "os.system"
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="may not be set"):
        load_model(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ArtifactError, match="structure.json"):
        load_model(tmp_path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ArtifactError, match="model.safetensors"):
        load_model(Path(tmp_path))
