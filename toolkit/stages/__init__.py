"""Built-in stages; importing this package registers them. Config classes double as the Python API."""

from toolkit.stages.prune import Prune
from toolkit.stages.train import Train

__all__ = ["Prune", "Train"]
