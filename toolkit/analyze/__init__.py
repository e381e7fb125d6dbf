"""Sensitivity analysis: where to prune and what to keep in float, measured on the target runtime.

`analyze_recipe` (toolkit.analyze.run) analyzes the model at one point of a run folder; the technique
itself lives on plain arguments in toolkit.prune.sensitivity and toolkit.quantize.layer_sensitivity.
This package imports nothing heavy at import time (the report reads its charts without torch).
"""
