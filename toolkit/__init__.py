"""Edge-efficiency toolkit: compress image-classification CNNs and measure every step."""

from toolkit.version import __version__

__all__ = ["__version__"]
