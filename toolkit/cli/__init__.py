"""The `compress` command line."""

from toolkit.cli.main import main

__all__ = ["main"]
