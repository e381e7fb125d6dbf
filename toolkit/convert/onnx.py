"""ONNX export (dynamic batch, checked, shapes inferred) and parity against the torch model."""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from toolkit.convert.batch_check import check_dynamic_batch
from toolkit.errors import ToolkitError
from toolkit.fsutil import atomic_path

INPUT_NAME, OUTPUT_NAME = "input", "logits"
ONNX_FILE = "model.onnx"
PARITY_SAMPLES = 256  # real validation images compared between torch and ONNX Runtime


def _export(model: nn.Module, example: torch.Tensor, target: Path, opset: int, exporter: str,
            constant_folding: bool = True) -> str:
    kwargs: dict[str, Any] = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset)
    supports_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    use_dynamo = exporter == "dynamo"
    if use_dynamo:
        batch = torch.export.Dim("batch", min=1, max=65536)
        kwargs.update(dynamo=True, dynamic_shapes=({0: batch},), optimize=True)
    else:
        kwargs.update(dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                      do_constant_folding=constant_folding)
        if supports_dynamo:
            kwargs["dynamo"] = False
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(target), **kwargs)
    return "dynamo" if use_dynamo else "torchscript"


def export_onnx(model: nn.Module, path: Path, example: torch.Tensor, *, opset: int = 17,
                exporter: str = "auto", simplify: bool = False, constant_folding: bool = True,
                deploy: bool = True) -> dict[str, Any]:
    """Export `model` to ONNX with a dynamic batch axis; check it and infer shapes. Returns export facts.

    `constant_folding=False` keeps weight fake-quantization as Q/DQ nodes (QAT); onnxslim then cleans up.
    `deploy`: export the deploy form of re-parameterizable models (toolkit.convert.deploy; recorded under
    `deploy_form`), made on a copy. Raises ToolkitError when no exporter can export the model, and
    FrozenBatchError (a UserInputError) when the file runs at batch 1 only (toolkit.convert.batch_check).
    """
    import onnx

    from toolkit.convert.deploy import deploy_form

    model = copy.deepcopy(model).cpu().eval()
    example = example[:1].cpu()
    deployed = None
    if deploy:
        model, deployed = deploy_form(model, example)
    path = Path(path)
    order = ["torchscript", "dynamo"] if exporter == "auto" else [exporter]
    errors = []
    with atomic_path(path) as tmp:
        used = None
        for choice in order:  # the TorchScript exporter is mature for CNNs and 4x faster; dynamo is the fallback
            try:
                used = _export(model, example, tmp, opset, choice, constant_folding)
                break
            except Exception as exc:  # noqa: BLE001 - collect and try the next exporter
                errors.append(f"{choice}: {type(exc).__name__}: {str(exc)[:400]}")
        if used is None:
            raise ToolkitError("ONNX export failed: " + " | ".join(errors))
        proto = onnx.load(str(tmp))
        onnx.checker.check_model(proto)
        proto = onnx.shape_inference.infer_shapes(proto)
        if simplify:
            import onnxslim

            proto = onnxslim.slim(proto)
        onnx.save(proto, str(tmp))
        check_dynamic_batch(tmp, example, INPUT_NAME)  # a frozen batch fails later, far from its cause
    facts = {"exporter": used, "opset": max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
             "simplified": simplify, "nodes": len(proto.graph.node)}
    if deployed is not None:
        facts["deploy_form"] = deployed
    return facts


# Parity thresholds (README "Reliability"): logits are compared relative to their scale, the largest |logit|
# torch gives on the sample, because deep untrained nets have logits in the thousands where an absolute 1e-3
# means nothing. Differences under PARITY_REL_TOL x scale are float noise; an image whose torch top-1 leads
# its runner-up by less than that is a near-tie that either runtime may break either way.
PARITY_REL_TOL = 1e-3


def parity(model: nn.Module, predict_onnx, batches: Iterable[tuple[torch.Tensor, Any]]) -> dict[str, Any]:
    """Compare torch and ONNX logits on real batches.

    Returns max_abs_diff, logits_scale (max |torch logit|), rel_diff (= max_abs_diff / logits_scale),
    top1_agreement (share of images with the same top-1), changed_predictions (images whose top-1 differs
    although torch's top-1 leads by more than PARITY_REL_TOL x scale), samples and `ok` (no changed
    prediction); see `parity_warning`.
    """
    model = model.cpu().eval()
    max_diff, scale, agree, changed, total = 0.0, 0.0, 0, 0, 0
    refs, outs = [], []
    with torch.inference_mode():
        for images, _ in batches:
            ref = model(images).float().numpy()
            out = np.asarray(predict_onnx(images.numpy()), dtype=np.float32)
            refs.append(ref)
            outs.append(out)
            max_diff = max(max_diff, float(np.abs(ref - out).max()))
            scale = max(scale, float(np.abs(ref).max()))
            agree += int((ref.argmax(1) == out.argmax(1)).sum())
            total += len(ref)
    tie = PARITY_REL_TOL * scale
    for ref, out in zip(refs, outs):
        top2 = np.sort(ref, axis=1)[:, -2:] if ref.shape[1] > 1 else np.concatenate([ref, ref], axis=1)
        clear = (top2[:, 1] - top2[:, 0]) > tie
        changed += int(((ref.argmax(1) != out.argmax(1)) & clear).sum())
    rel = max_diff / scale if scale > 0 else (0.0 if max_diff == 0 else float("inf"))
    return {"max_abs_diff": max_diff, "logits_scale": scale, "rel_diff": rel, "rel_tol": PARITY_REL_TOL,
            "top1_agreement": agree / total if total else None, "changed_predictions": changed, "samples": total,
            "ok": changed == 0 and bool(np.isfinite(max_diff))}


def parity_warning(facts: dict[str, Any]) -> str | None:
    """A warning when the ONNX model would change predictions (never for float noise on huge logits)."""
    if facts.get("ok", True):
        return None
    return (f"the ONNX export changes the top-1 prediction of {facts['changed_predictions']} of {facts['samples']} "
            f"validation images (top-1 agreement {facts['top1_agreement']:.4f}; max |onnx - torch| "
            f"{facts['max_abs_diff']:.3g} = {facts['rel_diff']:.2e} of the logits' scale {facts['logits_scale']:.3g})")
