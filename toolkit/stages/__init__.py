"""Built-in stages; importing this package registers them. Config classes double as the Python API."""

from toolkit.stages.distill import Distill
from toolkit.stages.engine import Engine
from toolkit.stages.export import Export
from toolkit.stages.prune import Prune
from toolkit.stages.quantize import Quantize
from toolkit.stages.train import Train

__all__ = ["Distill", "Engine", "Export", "Prune", "Quantize", "Train"]
