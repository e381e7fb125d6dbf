"""Export plus its parity check, in one place: the export stage, the quantize and engine stages and the
measurement all go through `ensure_onnx`, so every ONNX file the toolkit writes was compared with torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from toolkit.artifacts import ONNX, ModelArtifact
from toolkit.convert.deploy import deploy_note
from toolkit.convert.onnx import ONNX_FILE, PARITY_SAMPLES, export_onnx, parity, parity_warning
from toolkit.runtimes import get_runtime

# A stage's own ONNX file (export, quantize's fp32 input, engine's input) is compared on more images than the
# copy that measurement exports for the ONNX runtimes of every stage.
STAGE_PARITY_SAMPLES = 512

def ensure_onnx(model: nn.Module, stage_dir: Path, data, log=None, *, filename: str = ONNX_FILE, opset: int = 17,
                exporter: str = "auto", simplify: bool = False, samples: int = PARITY_SAMPLES
                ) -> tuple[ModelArtifact, dict[str, Any]]:
    """Export a torch model to stage_dir/filename and check parity against torch on `samples` real images.

    The one export-plus-parity path (the export stage calls it too); `log` gets a warning only when the
    ONNX model changes predictions (thresholds in toolkit.convert.onnx.parity).
    """
    path = stage_dir / filename
    facts = export_onnx(model, path, data.example_input(1), opset=opset, exporter=exporter, simplify=simplify)
    artifact = ModelArtifact(ONNX, path)
    session = get_runtime("onnxruntime-cpu").load(artifact)
    facts.update(parity(model, session.predict, data.val_batches(limit=samples)))
    warning = parity_warning(facts)
    if log is not None and warning:
        log.warning(warning)
    return artifact, {"file": filename, **facts}


def export_model(model: nn.Module, stage_dir: Path, data: Any, log: Any, filename: str, opset: int = 17,
                 exporter: str = "auto", simplify: bool = True) -> tuple[ModelArtifact, dict[str, Any]]:
    """Export into `stage_dir` and compare ONNX Runtime's logits with torch's on validation images of `data`
    (a DataBundle); the parity facts are grouped under "parity" and summarised in `log` (.info/.warning)."""
    artifact, facts = ensure_onnx(model, stage_dir, data, log, filename=filename, opset=opset,
                                  exporter=exporter, simplify=simplify, samples=STAGE_PARITY_SAMPLES)
    parity_keys = ("max_abs_diff", "logits_scale", "rel_diff", "rel_tol", "top1_agreement", "changed_predictions",
                   "samples", "ok")
    facts["parity"] = {k: facts.pop(k) for k in parity_keys}
    log.info(f"exported {filename} ({facts['exporter']}, opset {facts['opset']}): max |onnx - torch| "
                 f"{facts['parity']['max_abs_diff']:.2e} ({facts['parity']['rel_diff']:.1e} of the logits' scale), "
                 f"top-1 agreement {facts['parity']['top1_agreement']:.4f}")
    note = deploy_note(facts.get("deploy_form"))
    if note:  # the ONNX file is not the module's training form: say so where the export is logged
        (log.warning if facts["deploy_form"].get("status") == "failed" else log.info)(note)
    return artifact, facts
