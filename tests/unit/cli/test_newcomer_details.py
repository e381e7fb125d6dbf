"""Details a newcomer trips over: table width, file modes, inspect without data, seed_cnn's layer names."""

from __future__ import annotations

import os
import stat

import torch
import yaml
from click.testing import CliRunner
from rich.console import Console
from torch import nn

from toolkit.cli.main import main
from toolkit.cli.format import summary_tables
from toolkit.models import build_model, load_model
from toolkit.models.io import save_model
from toolkit.models.seed_cnn import _flat_size, seed_cnn
from toolkit.config import ModelSpec

RUNTIMES = ("torch-cpu", "onnxruntime-cpu", "openvino-cpu")


def test_the_latency_table_keeps_runtime_names_whole_at_80_columns():
    names = ["train", "prune", "distill", "quantize", "engine"]
    stages = [{"index": i + 1, "name": n, "status": "ok", "accuracy": {"top1": 0.97}, "seconds": 1.0,
               "model": {"params": 1, "macs": 1, "size_bytes": 1},
               "latency": [{"runtime": r, "batch_size": b, "status": "ok", "p50_ms": 0.123} for r in RUNTIMES
                           for b in (1, 32)]} for i, n in enumerate(names)]
    console = Console(width=80, record=True, force_terminal=False)
    for table in summary_tables(stages):
        console.print(table)
    text = console.export_text()
    assert "…" not in text.split("latency p50")[1]
    assert all(runtime in text for runtime in RUNTIMES) and all(name in text for name in names)
    assert max(len(line) for line in text.splitlines()) <= 80


def test_saved_weights_are_readable_like_every_other_output(tmp_path):
    save_model(build_model(ModelSpec(arch="seed_cnn"), 10, 32), tmp_path, {"model": {"arch": "seed_cnn"},
                                                                          "num_classes": 10, "image_size": 32})
    modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in tmp_path.iterdir()}
    assert modes == {"model.safetensors": 0o644, "structure.json": 0o644}


def _unnamed_seed_cnn(num_classes=10, size=32, first=32):
    """seed_cnn as it was built before its layers had names (first conv's width changeable: 'pruned')."""
    return nn.Sequential(nn.Conv2d(3, first, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Conv2d(first, 64, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                         nn.Conv2d(64, 64, 3), nn.ReLU(inplace=True), nn.Flatten(),
                         nn.Linear(_flat_size(size), 64), nn.ReLU(inplace=True), nn.Linear(64, num_classes))


def test_seed_cnn_layers_have_names_and_the_same_seeded_weights():
    torch.manual_seed(0)
    named = seed_cnn()
    torch.manual_seed(0)
    unnamed = _unnamed_seed_cnn()
    layers = dict(named.named_children())
    assert {"conv1", "conv2", "conv3", "fc", "classifier"} <= set(layers)
    assert [t.tolist() for t in named.state_dict().values()] == [t.tolist() for t in unnamed.state_dict().values()]


def test_seed_cnn_files_saved_under_the_old_layer_names_still_load(tmp_path):
    torch.manual_seed(1)
    old = _unnamed_seed_cnn(first=16).eval()  # a pruned model saved by the earlier code
    save_model(old, tmp_path, {"model": {"arch": "seed_cnn"}, "num_classes": 10, "image_size": 32})
    loaded = load_model(tmp_path)
    assert loaded.conv1.out_channels == 16
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x), old(x))


def test_inspect_a_recipe_whose_data_set_is_not_here(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "far", "model": {"arch": "seed_cnn", "num_classes": 5},
                                      "data": {"dataset": "imagefolder", "root": "not/on/this/machine",
                                               "image_size": 32},
                                      "stages": [{"train": {}}, {"prune": {"ignore": ["conv3"]}}]}))
    result = CliRunner().invoke(main, ["inspect", str(recipe), "--json"])
    assert result.exit_code == 0, result.output
    report = yaml.safe_load(result.output)
    assert report["prunable"] and {"module": "conv3", "why": "prune.ignore or --ignore"} in report["ignored"]
    assert {"module": "classifier", "why": "final classifier (5 outputs)"} in report["ignored"]
