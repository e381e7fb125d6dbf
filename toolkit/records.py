"""Read-only attribute access to metrics: run.metrics["prune"].accuracy.top1."""

from __future__ import annotations

from typing import Any


class Record(dict):
    """A dict whose keys are also attributes (nested dicts become Records); missing attributes are errors."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"no field '{name}' (fields: {', '.join(self)})") from None
        return wrap(value)

    def __getitem__(self, key: str) -> Any:
        return wrap(dict.__getitem__(self, key))


def wrap(value: Any) -> Any:
    """Records for dicts, lists of them for lists, values otherwise."""
    if isinstance(value, dict) and not isinstance(value, Record):
        return Record(value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value
