"""`compress analyze` on a real run folder: JSON, chart and report; cached; resumed; reused by allocation."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from toolkit.cli.main import main

PRUNE = {"prune": {"allocation": "sensitivity", "target": {"macs_speedup": 1.5}, "round_to": None,
                   "sensitivity": {"samples": 32, "rounds": 1, "check_rounds": 1}}}


@pytest.mark.slow
def test_analyze_writes_chart_is_cached_resumes_and_feeds_sensitivity_allocation(tiny, tmp_path, monkeypatch):
    # 3 epochs: the baseline must be clear of chance, else the train stage is `degraded` and the run exits 4
    raw = tiny(model={"arch": "seed_cnn"}, stages=[{"train": {"epochs": 3, "lr": 0.05}}])
    raw["data"]["image_size"] = 20  # seed_cnn's smallest input
    train_only, full = tmp_path / "train.yaml", tmp_path / "full.yaml"
    train_only.write_text(yaml.safe_dump(raw))
    full.write_text(yaml.safe_dump({**raw, "stages": raw["stages"] + [PRUNE]}))
    runner = CliRunner()
    trained = runner.invoke(main, ["run", str(train_only), "-q"])
    assert trained.exit_code == 0, trained.output
    run_dir = tmp_path / "runs" / "tiny"

    import toolkit.analyze.run as analyze_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(analyze_run, "_int8_analysis", interrupted)  # stop after the pruning part
    args = ["analyze", str(full), "--samples", "32", "--rounds", "1"]
    stopped = runner.invoke(main, args)
    assert stopped.exit_code == 130 and "group 1/" in stopped.output
    monkeypatch.undo()

    resumed = runner.invoke(main, args)
    assert resumed.exit_code == 0, resumed.output
    assert "resuming the pruning analysis" in resumed.output and "group 1/" not in resumed.output
    result_file = run_dir / "analysis" / "sensitivity-01-train.json"
    result = json.loads(result_file.read_text())
    assert result["complete"] and result["runtime"]["name"] == "onnxruntime-cpu"  # the prune stage's target
    assert result["data"]["samples"] == 32 and result["command"].startswith("compress analyze")
    groups = {row["root"] for row in result["pruning"]}
    assert len(result["pruning"]) == 3 * len(groups) >= 6
    assert all(row["latency_saved_ms"] is not None for row in result["pruning"])
    assert {row["node"] for row in result["int8"]["layers"]} and \
        all(row["only_float_top1"] is not None for row in result["int8"]["layers"])
    assert result_file.with_suffix(".svg").stat().st_size > 5000 and result_file.with_suffix(".png").is_file()
    assert not list((run_dir / "analysis").glob(".*partial*"))  # work files are gone once complete
    assert 'id="sensitivity"' in (run_dir / "report.html").read_text()

    before = result_file.stat().st_mtime_ns
    again = runner.invoke(main, args)
    assert again.exit_code == 0 and "cached:" in again.output and result_file.stat().st_mtime_ns == before

    pruned = runner.invoke(main, ["run", str(full)])
    assert pruned.exit_code == 0, pruned.output
    metrics = json.loads((run_dir / "02-prune" / "metrics.json").read_text())
    alloc = metrics["extra"]["steps"][0]["allocation"]
    assert alloc["analysis"]["reused"] and alloc["ratios"]
    assert metrics["extra"]["target_met"], metrics["extra"]["macs_speedup"]
    # the per-layer report compares each group root with the share its allocation chose (it used to crash)
    assert metrics["extra"]["layers"]["asked_ratio"] == pytest.approx(alloc["ratios"], abs=1e-4)
    assert "allocation: sensitivity" in (run_dir / "report.html").read_text()

    result_file.write_text("[]")  # an analysis file of another shape: analyzed again, no AttributeError
    redone = runner.invoke(main, args)
    assert redone.exit_code == 0, redone.output
    assert "Traceback" not in redone.output and json.loads(result_file.read_text())["complete"]


def test_an_interrupted_analysis_state_of_another_shape_starts_again(tmp_path):
    from toolkit.prune.sensitivity_cache import load_state

    for content in ("[]", '{"key": "k", "state": []}', '{"key": "k", "state": "x"}', "null"):
        (tmp_path / "pruning.json").write_text(content)
        assert load_state(tmp_path / "pruning.json", "k") == {}
    (tmp_path / "pruning.json").write_text('{"key": "k", "state": {"done": [1]}}')
    assert load_state(tmp_path / "pruning.json", "k") == {"done": [1]}
