"""`compress sweep`: explore recipe variants (pruning targets x quantization schemes) on Optuna and keep the
measured Pareto set.

`spec.py` reads and checks a recipe's `sweep:` section (before any compute), `storage.py` opens the Optuna
storage and study, `engine.py` runs trials as ordinary run folders in one or several worker processes,
`results.py` reads each trial's objective values and writes the sweep's summary. Optuna is imported only
inside the functions that need it.
"""
