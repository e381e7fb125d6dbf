"""Time several models together, in interleaved rounds on one device, and keep what that session says.

`compress bench` re-measures a run's stages this way, and a run whose stages were timed in different
sessions (a stage cached or shared from an earlier run) re-times them together before its report, so
every speedup the report shows compares timings taken together (toolkit.report: `session`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from toolkit.artifacts import ONNX, Model, ModelArtifact
from toolkit.config import MeasureSpec
from toolkit.measure.device import stamp_session
from toolkit.measure.interrupts import reraise_if_interrupted
from toolkit.measure.model import measure_model
from toolkit.records import FAILED, OK


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def measure_interleaved(models: list[tuple[str, Model, Path]], data, spec: MeasureSpec, accuracy: bool,
                        scratch: Path) -> dict[str, dict[str, Any]]:
    """measure_model's sections for several models, their latency timed together in interleaved rounds.

    Timing all stages A B C A B C ... is what makes their differences mean something on a busy machine.
    """
    from toolkit.artifacts import TORCH
    from toolkit.convert.checked import ensure_onnx
    from toolkit.measure.interleave import Candidate, latency_records
    from toolkit.runtimes import get_runtime

    needs_onnx = any(ONNX in get_runtime(r).formats and TORCH not in get_runtime(r).formats for r in spec.runtimes)
    results, candidates = {}, []
    for key, model, directory in models:
        result = measure_model(model, data=data, spec=spec.model_copy(update={"accuracy": accuracy, "runtimes": []}),
                               stage_dir=directory, device=_device(), log=None)
        onnx_model = model if isinstance(model, ModelArtifact) and model.format == ONNX else None
        if onnx_model is None and needs_onnx and not isinstance(model, ModelArtifact):
            try:
                (scratch / key).mkdir(parents=True, exist_ok=True)
                onnx_model, result["model"]["onnx"] = ensure_onnx(model, scratch / key, data)
            except Exception as exc:  # noqa: BLE001 - export failures are recorded; torch runtimes still run
                reraise_if_interrupted(exc)
                result["model"]["onnx"] = {"status": FAILED, "reason": f"{type(exc).__name__}: {exc}"[:500]}
        results[key] = result
        candidates.append(Candidate(key, model, onnx_model))
    latency = latency_records(candidates, data, spec)
    for key in results:
        results[key]["latency"] = stamp_session(latency[key])
        for rec in results[key]["latency"]:
            if rec.get("status") == OK:  # what may be compared with the others' records of this session
                rec["interleaved"] = True
    return results
