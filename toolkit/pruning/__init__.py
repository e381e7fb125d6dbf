"""Old import path of `toolkit.prune` (kept for one release)."""

from toolkit.prune import PrunePlan, channel_counts, prune_once, search_ratio  # noqa: F401
