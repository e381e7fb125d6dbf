"""Models users bring: tuple/dict outputs, hard-coded reshapes, coupled channel parts, runs made from Python."""

from __future__ import annotations

import pytest
import torch
from user_models import GroupNormCnn, fixed_view_net, groupnorm_cnn, grouped_conv_cnn, small_cnn

from toolkit.errors import ArtifactError, UserInputError
from toolkit.fsutil import read_json
from toolkit.models import load_model
from toolkit.models.outputs import LogitsOutput, pick
from toolkit.run.pipeline import run_recipe
from toolkit.prune import PrunePlan, channel_counts, prune_once
from toolkit.prune.inspect import format_inspection, inspect_model
from toolkit.recipe import parse_recipe

X16 = torch.randn(1, 3, 16, 16)


def test_tuple_output_model_runs_train_prune_quantize_and_reloads(tiny, tmp_path):
    raw = tiny(model={"arch": "user_models:tuple_net"},
               stages=[{"prune": {"target": {"ratio": 0.5}}}, {"quantize": {"cache_dir": str(tmp_path / "calib")}}])
    raw["measure"]["runtimes"] = ["onnxruntime-cpu"]
    result = run_recipe(parse_recipe(raw))
    assert [s.status for s in result.stages] == ["ok", "ok", "ok"]  # input, prune, quantize
    pruned = load_model(result.stages[1].directory, trust_code=True)  # our own module:function model
    assert isinstance(pruned, LogitsOutput) and pruned(torch.randn(2, 3, 16, 16)).shape == (2, 4)
    assert result.stages[1].metrics["extra"]["channels"]["model.features.0"] == [16, 8]
    assert result.stages[2].metrics["accuracy"]["top1"] is not None  # the INT8 ONNX outputs logits only


def test_dict_output_and_explicit_logits_selector(tiny, tmp_path):
    raw = tiny(model={"arch": "user_models:dict_net"}, stages=[{"train": {"epochs": 1}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    stage = run_recipe(parse_recipe(raw)).stages[0]  # the 'out' key, by default
    # trained, exported and measured on the logits; one epoch may leave this tiny net at chance (degraded)
    assert stage.status in ("ok", "degraded") and stage.metrics["accuracy"]["top1"] is not None
    assert stage.metrics["latency"][0]["status"] == "ok"
    out = {"embedding": torch.zeros(1, 3), "scores": torch.ones(1, 5)}
    assert pick(out, "scores").shape == (1, 5) and pick((torch.ones(1, 2), torch.zeros(1, 7)), 1).shape == (1, 7)
    with pytest.raises(UserInputError, match=r"model.logits: .*'embedding': tensor \(1, 3\)"):
        pick(out, None)  # neither 'logits' nor 'out': the error lists what there is


def test_inspector_names_a_hard_coded_view_and_the_ignore_entry_that_fixes_it():
    report = inspect_model(fixed_view_net(), X16, 10)
    assert not report["prunable"] and report["suggested"]["ignore"] == ["features.3"]
    assert report["suggested"]["test_prune"]["output_shape_kept"] is True
    text = format_inspection(report, "fixed_view_net")
    assert "view(-1, 256)" in text and 'ignore: ["features.3"]' in text
    with pytest.raises(UserInputError, match=r"view\(-1, 256\).*features\.3"):
        prune_once(fixed_view_net(), X16, PrunePlan(num_classes=10), 0.5)
    pruned = prune_once(fixed_view_net(), X16, PrunePlan(num_classes=10, ignore=["features.3"], round_to=None), 0.5)
    assert channel_counts(pruned)["classifier.0"] == 16 and pruned(X16).shape == (1, 10)


@pytest.mark.parametrize("ratio, expected", [(0.5, {"conv1": 16, "conv2": 32}), (0.7, {"conv1": 8, "conv2": 16})])
def test_groupnorm_layers_prune_to_the_ratio_at_the_default_round_to(ratio, expected):
    # Torch-Pruning 1.6's round_to compared per-part counts with whole layers: 0.5 and 0.7 removed nothing.
    counts = channel_counts(prune_once(groupnorm_cnn(), X16, PrunePlan(num_classes=10, round_to=8), ratio))
    assert {k: counts[k] for k in expected} == expected


def test_grouped_convolutions_keep_multiples_of_round_to_and_parts():
    counts = channel_counts(prune_once(grouped_conv_cnn(), X16, PrunePlan(num_classes=10, round_to=8), 0.5))
    assert counts["grouped"] == 16 and counts["reduce"] == 16 and counts["grouped"] % 4 == 0


def test_inspector_explains_groupnorm_coupling_and_suggests_round_to():
    report = inspect_model(groupnorm_cnn(), X16, 10)
    coupling = {c["module"]: c for c in report["coupling"]}
    assert coupling["conv1"]["parts"] == 8 and coupling["conv1"]["per_part"] == 4 and coupling["conv1"]["by"] == "gn1"
    assert report["suggested"]["round_to"] == 8
    assert "coupled in equal parts" in format_inspection(report, "gn")


def test_inspector_suggests_the_round_to_that_reaches_macs_targets_the_default_cannot():
    # GroupNorm(3 groups) on 24/48 channels: the default round_to 8 keeps 8-channel steps per part (MACs 1.65x
    # at most); round_to 3 (one channel per part) reaches a 2x MACs target, and the inspector says so.
    report = inspect_model(GroupNormCnn(10, 24, 3), X16, 10)
    reach = {r["round_to"]: r for r in report["reachable"]}
    assert reach[8]["max_macs_speedup"] < 2 <= reach[3]["max_macs_speedup"]
    assert report["suggested"]["round_to"] == 3
    assert "Suggested round_to: 3, which makes macs_speedup targets up to" in format_inspection(report, "gn3")
    assert channel_counts(prune_once(GroupNormCnn(10, 24, 3), X16, PrunePlan(num_classes=10, round_to=3), 0.5)) \
        ["conv1"] < 24  # the suggestion really prunes


def test_part_counts_without_a_common_multiple_inside_a_layer_suggest_no_such_round_to():
    # grouped convolutions in 5 and 7 parts on 30 and 42 channels: their least common multiple, 35, is wider than
    # the 30-channel layer, so it would keep that layer whole; the inspector neither tries nor suggests it
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 30, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(30, 30, 3, padding=1, groups=5), torch.nn.ReLU(),
                                torch.nn.Conv2d(30, 42, 1), torch.nn.ReLU(),
                                torch.nn.Conv2d(42, 42, 3, padding=1, groups=7), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(42, 10))
    report = inspect_model(model, X16, 10)
    assert sorted({c["parts"] for c in report["coupling"]}) == [5, 7]
    assert 35 not in [r["round_to"] for r in report.get("reachable", [])]
    text = format_inspection(report, "parts")
    assert "round_to 35" not in text and "share no multiple narrower than a layer" in text


def test_prune_stage_records_layers_far_from_the_asked_ratio(tiny, tmp_path):
    raw = tiny(model={"arch": "user_models:groupnorm_cnn"}, stages=[{"prune": {"target": {"ratio": 0.3}}}])
    raw["measure"]["runtimes"] = ["torch-cpu"]
    stage = run_recipe(parse_recipe(raw)).stages[-1]
    layers = stage.metrics["extra"]["layers"]
    off = {o["layer"]: o for o in layers["off_target"]}
    assert layers["asked_ratio"] == 0.3 and off["conv1"]["channels"] == [32, 16]  # 4-channel parts: steps of 1/4
    assert "GroupNorm gn1" in off["conv1"]["why"]
    assert "lost a share of channels far from the 0.30 asked" in (stage.directory / "log.txt").read_text()


def test_a_run_made_from_a_python_module_names_base_model_and_benches_its_onnx(tmp_path):
    from toolkit import Pipeline, stages
    from toolkit.bench import bench_run

    module = small_cnn(4)
    run_dir = tmp_path / "runs" / "py"
    Pipeline(model=module, data={"dataset": "synthetic", "image_size": 16, "num_samples": 96, "num_classes": 4},
             stages=[stages.Quantize(cache_dir=str(tmp_path / "calib"))],
             measure={"runtimes": ["onnxruntime-cpu"], "batch_sizes": [1], "warmup_s": 0, "min_iters": 2,
                      "min_time_s": 0}).run(run_dir)
    with pytest.raises(ArtifactError, match=r"base_model=my_module"):
        load_model(run_dir / "00-input")
    assert load_model(run_dir / "00-input", base_model=module)(X16).shape == (1, 4)
    said: list[str] = []
    written = bench_run(run_dir, runtimes=["onnxruntime-cpu", "torch-cpu"], log=said.append)
    # the torch stage is measured through its model.onnx on ONNX runtimes; only torch runtimes are skipped
    assert [p.parent.parent.name for p in written] == ["00-input", "01-quantize"]
    assert any("00-input" in line and "base_model=" in line for line in said)
    latency = {rec["runtime"]: rec for rec in read_json(written[0])["latency"]}
    assert latency["onnxruntime-cpu"]["status"] == "ok" and latency["onnxruntime-cpu"]["format"] == "onnx"
    assert latency["torch-cpu"]["status"] == "skipped" and "in-memory module" in latency["torch-cpu"]["reason"]
