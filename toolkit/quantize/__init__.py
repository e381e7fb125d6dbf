"""INT8 quantization as Q/DQ ONNX: ONNX Runtime's static quantizer (PTQ), torch fake-quant (QAT)."""
