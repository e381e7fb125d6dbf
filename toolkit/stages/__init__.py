"""Built-in stages; importing this package registers them. Config classes double as the Python API."""

# Registration order is the order `compress stages` and docs/recipes.md list them: pipeline order.
from toolkit.stages.train import Train  # noqa: I001
from toolkit.stages.prune import Prune
from toolkit.stages.distill import Distill
from toolkit.stages.export import Export
from toolkit.stages.quantize import Quantize
from toolkit.stages.engine import Engine

__all__ = ["Train", "Prune", "Distill", "Export", "Quantize", "Engine"]
