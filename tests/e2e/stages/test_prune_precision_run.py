"""A latency target inside a run that ships INT8 (issue 30, item 1): the prune stage times quantized candidates
of the recipe's scheme, records the precision and why, and the report puts the cut's INT8 and fp32 speedups side
by side."""

from __future__ import annotations

import pytest

from toolkit.recipe import parse_recipe
from toolkit.run.pipeline import run_recipe


@pytest.mark.slow
def test_a_latency_target_before_a_quantize_stage_is_timed_on_int8_candidates(tiny):
    raw = tiny(stages=[{"train": {"epochs": 1}},
                       {"prune": {"target": {"latency_speedup": 1.1, "batch_size": 4}, "max_layer_ratio": 0.5,
                                  "finetune_epochs": 2}},
                       {"quantize": {"scheme": "openvino", "calibration": {"samples": 32}}}],
               measure={"runtimes": ["onnxruntime-cpu"], "batch_sizes": [1], "warmup_s": 0.0, "min_iters": 3,
                        "min_time_s": 0.0, "max_stage_drop": 100})
    result = run_recipe(parse_recipe(raw))
    step = result.stages[1].metrics["extra"]["steps"][0]
    assert step["precision"] == "int8" and step["precision_scheme"] == "openvino"
    assert "quantize stage 'quantize' follows" in step["precision_reason"]
    assert step["probe_convert_seconds"] > 0  # NNCF quantized the probes
    assert step["chosen_fp32"]["speedup"] > 0 and step["chosen"]["speedup"] > 0
    html = (result.run_dir / "report.html").read_text()
    assert "latency target timed in" in html and "same cut in fp32" in html
