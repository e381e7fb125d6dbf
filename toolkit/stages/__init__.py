"""Built-in stages; importing this package registers them. Config classes double as the Python API."""

# Registration order is the order `compress stages` and docs/recipes.md list them: pipeline order.
from toolkit.train.stage import Train  # noqa: I001
from toolkit.prune.stage import Prune
from toolkit.distill.stage import Distill
from toolkit.export.stage import Export
from toolkit.quantize.stage import Quantize
from toolkit.engine.stage import Engine

__all__ = ["Train", "Prune", "Distill", "Export", "Quantize", "Engine"]
