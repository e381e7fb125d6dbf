"""`compress analyze`: sensitivity analysis of the model at one point of a run folder.

`analyze_recipe` (toolkit.analyze.run) finds the model, runs the analysis and writes its JSON and chart; the
technique itself lives on plain arguments in toolkit.prune.sensitivity (pruning, cached and resumable in
toolkit.prune.sensitivity_cache) and toolkit.quantize.layer_sensitivity (INT8); the chart and the report
section are in toolkit.report (sensitivity_chart, sensitivity).
"""
