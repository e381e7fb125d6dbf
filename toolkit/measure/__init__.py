"""Measurement: accuracy, latency (rounds, interleaving, pairing), MACs, the device; `model.py` measures a stage's model.

Kept free of imports so that reading results (the report) does not load torch."""
