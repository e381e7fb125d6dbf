"""fp16 ONNX for TensorRT 11's strongly typed builds: onnxconverter-common's converter, sensitive ops in fp32."""

from __future__ import annotations

from pathlib import Path

from toolkit.fsutil import atomic_path

# Reductions, normalisations and exponentials lose too much in fp16; they stay fp32 (with casts around them).
KEEP_FP32 = ("Softmax", "LogSoftmax", "LayerNormalization", "BatchNormalization", "InstanceNormalization",
             "GroupNormalization", "ReduceMean", "ReduceSum", "ReduceL2", "Exp", "Log", "Pow", "Sqrt", "Erf")


def convert_to_fp16(src: Path, dst: Path, keep_fp32: tuple[str, ...] = KEEP_FP32) -> dict:
    """Write an fp16 copy of an fp32 ONNX model (inputs/outputs stay fp32); returns what stayed fp32."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    blocked = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(keep_fp32))
    converted = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked)
    with atomic_path(dst) as tmp:
        onnx.save(converted, str(tmp))
    kept = sorted({n.op_type for n in model.graph.node if n.op_type in blocked})
    return {"kept_fp32_ops": kept, "source": src.name}
