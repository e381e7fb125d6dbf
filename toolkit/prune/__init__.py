"""Structured channel pruning with Torch-Pruning's dependency graph (real, smaller tensors)."""

from toolkit.prune.engine import PrunePlan, channel_counts, prune_once
from toolkit.prune.search import search_ratio

__all__ = ["PrunePlan", "channel_counts", "prune_once", "search_ratio"]
