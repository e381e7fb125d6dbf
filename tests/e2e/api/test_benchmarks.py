"""Every benchmark script runs end to end in a smoke mode on tiny data, so none of them can rot."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("module,args,result", [
    ("benchmarks.frontier", ["--smoke"], "frontier_smoke"),
    ("benchmarks.frontier", ["--smoke", "--model", "mobilenet_v2"], "frontier_smoke_mobilenet_v2"),
    ("benchmarks.frontier", ["--smoke", "--model", "resnet56"], "frontier_smoke_resnet56"),
    ("benchmarks.overhead", ["--smoke"], "overhead_smoke"),
    ("benchmarks.repeatability", ["--smoke"], "repeatability_smoke"),
    ("benchmarks.kd_vs_finetune", ["--smoke"], "kd_vs_finetune_smoke"),
    ("benchmarks.sweep", ["--smoke"], "sweep_smoke"),
    ("benchmarks.int8_target", ["--smoke"], "int8_target_smoke"),
    ("benchmarks.allocation", ["--smoke"], "allocation_smoke"),
])
def test_benchmark_script_runs_in_smoke_mode_and_writes_its_tables(module, args, result, tmp_path):
    import importlib

    script = importlib.import_module(module)
    extra = ["--work", str(tmp_path / "work")] if module not in ("benchmarks.repeatability",
                                                                 "benchmarks.int8_target") else []
    assert script.main([*args, "--out", str(tmp_path), *extra]) == 0
    data = json.loads((tmp_path / f"{result}.json").read_text())
    assert data["rows"] and data["date"] and data["toolkit_version"] and data["machine"]["cpu"]
    table = (tmp_path / f"{result}.md").read_text()
    assert table.startswith("# ") and "| " in table
    if module == "benchmarks.sweep":  # both wall times, the overhead, a verdict against NNCF per runtime and batch
        assert set(data["walls_s"]) == {"1", "2"} and data["overhead_s"]
        assert {"baseline fp32", "NNCF PTQ"} <= {r["contender"] for r in data["rows"]}
        assert set(data["dominating_nncf"]) == {"openvino-cpu_b1", "onnxruntime-cpu_b1"}
    if module == "benchmarks.int8_target":  # the same target timed in both precisions, judged on the INT8 file
        assert [r["target timed in"] for r in data["rows"]] == ["fp32", "int8"]
        assert all(r["shipped INT8 speedup"] > 0 and isinstance(r["lands"], bool) for r in data["rows"])
        assert all(isinstance(r["search claims target_met"], bool) for r in data["rows"])
    if module == "benchmarks.allocation":  # both arms, and an analysis wall time
        assert [r["allocation"] for r in data["rows"]] == ["uniform", "sensitivity"]
        assert data["analysis"]["seconds"] > 0
    if module == "benchmarks.frontier":
        _assert_frontier_says_dominance_isa_and_load(data, table, tmp_path / f"{result}.svg")
        _assert_the_run_report_weighs_the_peers(tmp_path / "work", data, table)


def _assert_frontier_says_dominance_isa_and_load(data, table, plot):
    """Every measured peer gets a yes/no per batch size; the ISA, the load and the fixed-cost fit are written."""
    measured = {r["contender"] for r in data["rows"] if r.get("top1") is not None}
    peers = {p for p in measured if not p.startswith(("toolkit", "baseline"))}
    assert {"ONNX Runtime PTQ, defaults", "Torch-Pruning + fine-tune (1 ep)"} <= peers  # NNCF: only where installed
    if "NNCF PTQ" in peers:  # the pruned peer is also measured as it would ship: quantized by NNCF
        assert "Torch-Pruning + fine-tune (1 ep) + NNCF PTQ" in peers
    assert set(data["dominance"]) == peers
    assert all(isinstance(v["1"]["dominated"], bool) and v["1"]["peer_ms"] > 0 for v in data["dominance"].values())
    assert table.count("Dominance, ") == len(peers) and "VNNI" in table and "Load average" in table
    assert {"baseline fp32", "toolkit: 04-quantize", "toolkit: PTQ only (quantize the baseline)"} <= measured
    assert len(data["probes"]) == 3 and {"ort_b1", "ov_b1"} <= set(data["cost_fits"])
    assert "MET" in table or "MISSED" in table
    assert plot.read_text().lstrip().startswith("<")



def _assert_the_run_report_weighs_the_peers(work, data, table):
    """The toolkit run folder gets the peers (peers.json) and its report's recommendation is never dominated."""
    [run_dir] = [p.parent for p in work.glob("frontier-*-smoke/run.json")]
    peers = json.loads((run_dir / "peers.json").read_text())["peers"]
    assert {p["name"] for p in peers} == {r["contender"] for r in data["rows"] if r.get("top1") is not None
                                           and not r["contender"].startswith(("toolkit", "baseline"))}
    assert all(r["ci_low_ms"] <= r["p50_ms"] <= r["ci_high_ms"] for p in peers for r in p["latency"])
    recs = json.loads((run_dir / "summary.json").read_text())["runs"][0]["recommendations"]
    assert recs and all(r["why"] and set(r["peers_compared"]) == {p["name"] for p in peers} for r in recs)
    assert table.count("The run's report (peers.json added) recommends at batch") == len(recs)
