"""torch -> ONNX conversion with a parity check against ONNX Runtime: the export stage's technique, and how
the ONNX runtimes get a file for a torch model. Below `measure/` and above `runtimes/`."""
