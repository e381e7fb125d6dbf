"""INT8 as Q/DQ ONNX: NVIDIA ModelOpt (tensorrt scheme) or ONNX Runtime (cpu scheme) PTQ, torch fake-quant QAT,
placement check."""
