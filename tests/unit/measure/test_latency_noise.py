"""Latency with its error: planted noisy timings must give ties, not speedups; outliers must not decide."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from noisy_runtime import cost, noisy_runtime
from torch import nn

from toolkit.measure.interleave import Candidate, latency_records
from toolkit.measure.rounds import bootstrap_interval, time_rounds
from toolkit.measure.system import noise_warning
from toolkit.prune.latency_probe import ProbeTimer
from toolkit.prune.latency_search import search_latency_ratio
from toolkit.report.analysis import Point, pareto_front, recommend
from toolkit.report.collect import RunView, StageView
from toolkit.config import MeasureSpec

FAST = MeasureSpec(runtimes=["noisy-fake"], batch_sizes=[1], warmup_s=0.0, min_iters=50, min_time_s=0.0)


def net(width: int, seed: int = 0, bias: bool = True) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=bias), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


class Data:
    def example_input(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, 3, 8, 8)


def stage(index: int, name: str, top1: float, records: list[dict]) -> StageView:
    return StageView(index, name, name, "ok", None, {"accuracy": {"top1": top1}, "device": {"cpu": "fake cpu"},
                                                     "latency": records, "model": {}})


def test_bootstrap_interval_contains_the_median_and_narrows_with_agreement():
    low, high = bootstrap_interval([1.0, 1.1, 0.9, 1.05, 0.95])
    assert 0.9 <= low <= 1.0 <= high <= 1.1
    assert bootstrap_interval([2.0] * 5) == (2.0, 2.0)


def test_time_rounds_interleaves_models_and_flags_a_wide_interval():
    order = []
    samplers = {k: (lambda n, k=k: order.append(k) or [1.0 + 0.5 * (len(order) % 3)] * n) for k in ("a", "b")}
    out = time_rounds(samplers, MeasureSpec(warmup_s=0.0, min_iters=5, min_time_s=0.0), rounds=5)
    timed = order[4:]  # after two warm-up calls each
    assert timed[:2] == ["a", "b"] and timed[-2:] == ["a", "b"]  # A B A B ..., not A A ... B B
    assert out["a"]["rounds"] == 5 and out["a"]["ci_low_ms"] <= out["a"]["p50_ms"] <= out["a"]["ci_high_ms"]
    assert out["a"]["unstable"] and out["a"]["wide_interval"]
    assert out["a"]["system"]["before"]["logical_cpus"]


def test_identical_networks_are_measured_once_and_shown_equal():
    with noisy_runtime(sigma=0.3) as runtime:
        recs = latency_records([Candidate("02-prune", net(8, seed=1)), Candidate("03-distill", net(8, seed=2))],
                               Data(), FAST)
        timed = [s for s in runtime.sessions if s.timed_runs > 1]  # beyond the one trial call each
        assert len(timed) == 1
        again = latency_records([Candidate("04-finetune", net(8, seed=3))], Data(), FAST,
                                earlier=[("02-prune", recs["02-prune"][0])])
    a, b = recs["02-prune"][0], recs["03-distill"][0]
    assert b["same_graph_as"] == "02-prune" and b["p50_ms"] == a["p50_ms"] and b["graph_hash"] == a["graph_hash"]
    assert again["04-finetune"][0]["reused"] and again["04-finetune"][0]["p50_ms"] == a["p50_ms"]


def test_recommendation_treats_differences_inside_the_intervals_as_ties():
    picks = set()
    for seed in range(6):
        with noisy_runtime(sigma=0.3, seed=seed):
            recs = latency_records([Candidate("base", net(64)), Candidate("a", net(8, 1)), Candidate("b", net(8, 2)),
                                    Candidate("c", net(8, 3, bias=False))], Data(), FAST)
        assert abs(cost(net(8, 3, bias=False)) / cost(net(8)) - 1) < 0.03  # c: another graph, equally fast
        stages = [stage(1, "train", 0.90, recs["base"]), stage(2, "prune", 0.89, recs["a"]),
                  stage(3, "distill", 0.895, recs["b"]), stage(4, "other", 0.895, recs["c"])]
        [rec] = recommend(RunView(Path("run"), {}, "", stages), max_drop_points=1.0)
        picks.add(rec["stage"])
        assert rec["tie_rule"] and "02-prune on noisy-fake" in rec["tied_with"]
        assert rec["speedup_same_runtime_significant"] is True  # 8x fewer parameters is a real difference
        front = pareto_front([p for p in _points(stages)])
        assert "02-prune" not in [p.stage for p in front]  # tied on latency, less accurate: dominated
    assert picks == {"03-distill"}  # more accurate than 02 and earlier than the equally accurate 04, every time


def _points(stages):
    from toolkit.report.analysis import points

    return points(RunView(Path("run"), {}, "", stages))


def test_pareto_front_keeps_a_slower_point_whose_interval_overlaps():
    a = Point("a", "r", 1, 1.00, 0.80, "d", 0.90, 1.10)
    b = Point("b", "r", 1, 1.05, 0.85, "d", 0.95, 1.15)  # tied with a on latency, more accurate
    c = Point("c", "r", 1, 2.00, 0.90, "d", 1.90, 2.10)
    d = Point("d", "r", 1, 0.50, 0.70, "d", 0.45, 0.55)
    assert [p.stage for p in pareto_front([a, b, c, d])] == ["d", "b", "c"]


def staircase(ratio: float) -> nn.Module:
    """Channel rounding: width 32 pruned by `ratio`, rounded down to a multiple of 4 (0.25 and 0.2 coincide)."""
    return net(max(4, int(32 * (1 - ratio)) // 4 * 4))


def test_latency_search_rejects_a_single_outlier_and_reuses_identical_networks():
    # load 1 is the baseline, load 2 the first probe (ratio 0.1, really 1.14x): it is planted 10x faster.
    with noisy_runtime(sigma=0.02, outlier_loads={2}) as runtime:
        timer = ProbeTimer(net(32), runtime.name, 1, torch.zeros(1, 3, 8, 8), timing=FAST)
        found = search_latency_ratio(staircase, cost, cost(net(32)), 1.5, timer, 0.8, lambda msg: None)
    first = found["curve"][0]
    assert first["ratio"] == 0.1 and first["speedups_seen"][0] > 5 and first["speedup"] < 1.5
    assert cost(net(32)) / cost(staircase(found["ratio_exact"])) >= 1.5 and found["target_met"]
    assert sum(bool(p.get("reused")) for p in found["curve"]) == 3  # 0.25 = 0.2, 0.275 = 0.2625 = 0.3
    assert timer.measurements == 6  # 0.1 three times (the outlier outvoted), 0.2 once, 0.3 twice (confirmed)


def test_latency_search_does_not_claim_a_target_on_an_unstable_measurement():
    with noisy_runtime(sigma=0.8, seed=3) as runtime:
        timer = ProbeTimer(net(32), runtime.name, 1, torch.zeros(1, 3, 8, 8), timing=FAST)
        found = search_latency_ratio(staircase, cost, cost(net(32)), 1.5, timer, 0.8, lambda msg: None)
    assert found["target_met"] is False and "unstable" in found["target_reason"]


def test_noise_warning_names_a_busy_machine_and_mostly_unstable_records():
    quiet = {"load_avg": [0.5, 0.5, 0.5], "logical_cpus": 2}
    busy = {"load_avg": [6.0, 5.0, 4.0], "logical_cpus": 2}
    ok = {"status": "ok", "unstable": False, "system": {"before": quiet, "after": quiet}}
    assert noise_warning([ok, ok, {"status": "skipped"}]) is None
    assert "load average up to 6" in noise_warning([ok, {**ok, "system": {"before": busy, "after": quiet}}])
    assert "compress bench" in noise_warning([{**ok, "unstable": True}] * 2 + [ok])
    assert noise_warning([{"status": "ok", "p50_ms": 1.0}]) is None  # an old record without notes


def test_cli_table_marks_unstable_cells_and_warns():
    from rich.console import Console

    from toolkit.cli.format import summary_tables

    rec = {"runtime": "onnxruntime-cpu", "batch_size": 1, "status": "ok", "p50_ms": 0.5, "unstable": True}
    tables = summary_tables([{"index": 1, "name": "train", "status": "ok", "latency": [rec]}])
    console = Console(record=True, width=200)
    for t in tables:
        console.print(t)
    text = console.export_text()
    assert "~0.500" in text and "re-run `compress bench" in text


def test_graph_fingerprint_ignores_weights_and_names_but_not_shapes(tmp_path):
    from toolkit.measure.graph import onnx_graph_hash, torch_graph_hash
    from toolkit.convert.onnx import export_onnx

    example = torch.zeros(1, 3, 8, 8)
    for name, model in (("a", net(8, 1)), ("b", net(8, 2)), ("c", net(12, 1))):
        export_onnx(model.eval(), tmp_path / f"{name}.onnx", example)
    a, b, c = (onnx_graph_hash(tmp_path / f"{n}.onnx") for n in "abc")
    assert a == b != c and a.startswith("onnx:")
    assert torch_graph_hash(net(8, 1)) == torch_graph_hash(net(8, 2)) != torch_graph_hash(net(12))


def test_earlier_records_come_only_from_earlier_stages_on_this_machine_and_settings(tmp_path):
    import json

    from toolkit.measure.reuse import earlier_records

    rec = {"status": "ok", "runtime": "r", "batch_size": 1, "graph_hash": "onnx:1", "p50_ms": 1.0}
    here, there = {"cpu": "this cpu"}, {"cpu": "another cpu"}
    for name, device, key in (("01-train", here, "k"), ("02-prune", there, "k"), ("03-x", here, "old"),
                              ("04-distill", here, "k")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(
            {"status": "ok", "measure_key": key, "device": device, "latency": [rec]}))
    assert [label for label, _ in earlier_records(tmp_path, 4, here, "k")] == ["01-train"]


class _ScriptedTimer:
    """A ProbeTimer stand-in: the speedup is the MACs ratio; every measurement is flagged unstable with an
    interval `spread` wide around it (a busy machine whose noise may or may not reach below the goal)."""

    def __init__(self, spread: float):
        self.spread, self.measurements = spread, 0

    def measure(self, model, fresh: bool = False):
        self.measurements += 1
        speedup = cost(net(32)) / cost(model)
        return {"latency_ms": 1.0, "base_ms": speedup, "speedup": round(speedup, 4), "unstable": True,
                "speedup_ci": [round(speedup - self.spread, 4), round(speedup + self.spread, 4)],
                "graph_hash": str(cost(model))}

    def replace(self, ghash, result):
        pass


def test_an_unstable_measurement_whose_whole_interval_clears_the_goal_is_claimed():
    proven = search_latency_ratio(staircase, cost, cost(net(32)), 1.5, _ScriptedTimer(0.01), 0.8, lambda m: None)
    chosen = next(p for p in proven["curve"] if p["ratio"] == round(proven["ratio_exact"], 4))
    assert chosen["unstable"] and chosen["speedup_ci"][0] >= 1.5 and proven["target_met"]
    unproven = search_latency_ratio(staircase, cost, cost(net(32)), 1.5, _ScriptedTimer(0.5), 0.8, lambda m: None)
    assert unproven["target_met"] is False and "unstable" in unproven["target_reason"]


class _WideOnceTimer:
    """Speedup = the MACs ratio with tight intervals, except the first measurement of the least pruned network:
    unstable, its interval reaching every other probe (a burst of load during one measurement)."""

    def __init__(self, drift: tuple[float, ...] = (0.0, 0.01, 0.02)):
        self.calls: dict[str, int] = {}
        self.drift = drift  # relative change of each measurement of a network (first, second, third)

    def measure(self, model, fresh: bool = False):
        ghash = str(cost(model))
        n = self.calls[ghash] = self.calls.get(ghash, 0) + 1
        speedup = round(cost(net(32)) / cost(model) * (1 + self.drift[min(n, 3) - 1]), 4)
        wide = ghash == str(cost(staircase(0.1))) and n == 1
        return {"latency_ms": 1.0, "base_ms": speedup, "speedup": speedup, "unstable": wide, "graph_hash": ghash,
                "speedup_ci": [0.5, 100.0] if wide else [round(speedup - 0.01, 4), round(speedup + 0.01, 4)]}

    def replace(self, ghash, result):
        pass


@pytest.mark.parametrize("drift", [(0.0, 0.01, 0.02), (0.0, 0.01, -0.01)])
def test_an_unreached_goal_times_a_wide_tie_again_before_it_keeps_the_least_pruning(drift):
    # second drift: the wide first measurement stays the median of three, and the tie is decided by the others
    lines: list[str] = []
    result = search_latency_ratio(staircase, cost, cost(net(32)), 50.0, _WideOnceTimer(drift), 0.8, lines.append)
    least = min(result["curve"], key=lambda p: p["ratio"])
    best = max(result["curve"], key=lambda p: p["speedup"])
    assert least["settled"] and "tied with the best" in least["remeasured"]
    assert result["ratio_exact"] != least["ratio"] and result["target_met"] is False
    assert any("only through its interval" in line for line in lines)
    assert result["ratio_exact"] <= best["ratio"]
