"""Measurement: accuracy, latency (rounds, interleaving, pairing), MACs, the device.

`model.py` measures a stage's model. This file imports nothing, so that reading results (the report) does
not load torch.
"""
