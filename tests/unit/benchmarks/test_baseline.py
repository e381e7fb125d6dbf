"""The committed baselines are what their records say: benchmarks get the file only when its SHA-256 matches."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmarks import baseline

ROOT = baseline.HERE.parents[1]


def test_the_committed_resnet20_baseline_matches_its_record_and_loads_strictly():
    from toolkit.models.checkpoint import load_checkpoint
    from toolkit.models.cifar_resnet import CifarResNet

    path = baseline.baseline_checkpoint()
    record = json.loads((baseline.HERE / f"{baseline.BENCHMARK_BASELINE}_cifar10.json").read_text())
    assert record["file"] == path.name  # the frontier recipe names this file too
    assert f"baselines/{path.name}" in (ROOT / "recipes" / "frontier_resnet20.yaml").read_text()
    assert record["test_images"] == 10000 and 0.1 < record["top1"] <= 1.0 and len(record["sha256"]) == 64
    load_checkpoint(CifarResNet(20), path)  # strict: every key and shape fits


def test_a_baseline_file_that_differs_from_its_record_is_refused(tmp_path, monkeypatch):
    for name in ("resnet20_cifar10.json", "resnet20_cifar10.safetensors"):
        shutil.copyfile(baseline.HERE / name, tmp_path / name)
    with open(tmp_path / "resnet20_cifar10.safetensors", "ab") as handle:
        handle.write(b"\0")
    monkeypatch.setattr(baseline, "HERE", tmp_path)
    with pytest.raises(ValueError, match="SHA-256 differs"):
        baseline.baseline_checkpoint("resnet20")


def test_every_leg_matches_its_record_and_a_continuation_names_the_file_it_starts_from():
    records = {p.stem.removesuffix("_cifar10"): json.loads(p.read_text()) for p in baseline.HERE.glob("*_cifar10.json")}
    assert {"resnet20_e40", "resnet20", "resnet20_e125", "resnet20_e215", "resnet20_e251",
            "resnet20_e287", "resnet20_e311", "resnet56"} <= set(records)
    for name in records:
        baseline.baseline_checkpoint(name)  # raises when a file differs from its record
    for name, earlier in (("resnet20", "resnet20_e40"), ("resnet20_e125", "resnet20"),
                          ("resnet20_e215", "resnet20_e125"), ("resnet20_e251", "resnet20_e215"),
                          ("resnet20_e287", "resnet20_e251"), ("resnet20_e311", "resnet20_e287")):
        start = records[name]["starts_from"]
        assert start["name"] == earlier and start["sha256"] == records[earlier]["sha256"]
        assert start["file"] == records[earlier]["file"]
    # the sixth leg was distilled from an ensemble of committed legs, each named with its hash
    teachers = records["resnet20_e287"]["teachers"]
    assert [t["name"] for t in teachers] == ["resnet20_e125", "resnet20_e215", "resnet20_e251"]
    assert all(t["sha256"] == records[t["name"]]["sha256"] for t in teachers)
    assert records["resnet20_e287"]["teacher_top1"] > max(t["top1"] for t in teachers)  # the ensemble taught
    # the seventh by ResNet-56 and the fourth leg
    teachers = records["resnet20_e311"]["teachers"]
    assert [t["name"] for t in teachers] == ["resnet56", "resnet20_e215"]
    assert all(t["sha256"] == records[t["name"]]["sha256"] for t in teachers)
    assert records["resnet20_e311"]["teacher_top1"] > max(t["top1"] for t in teachers)
    assert records["resnet20_e40"].get("starts_from") is None


def test_the_resnet56_baseline_loads_strictly_and_was_trained_from_scratch():
    from toolkit.models.checkpoint import load_checkpoint
    from toolkit.models.cifar_resnet import CifarResNet

    record = json.loads((baseline.HERE / "resnet56_cifar10.json").read_text())
    assert record["starts_from"] is None and record["epochs"] == 60 and record["test_images"] == 10000
    assert record["swa"]["snapshots_averaged"] == 3
    load_checkpoint(CifarResNet(56), baseline.baseline_checkpoint("resnet56"))
