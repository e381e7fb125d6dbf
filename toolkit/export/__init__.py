"""ONNX export with a parity check: `onnx.py` the technique, `stage.py` the export stage."""
