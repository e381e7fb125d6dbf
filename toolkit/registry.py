"""Name -> factory registries for stages, models, datasets and runtimes (duplicate names are errors)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class UnknownNameError(KeyError):
    """A name that no registry entry has; the message lists what exists."""

    def __init__(self, kind: str, name: str, choices: list[str]):
        self.kind, self.name, self.choices = kind, name, choices
        hint = did_you_mean(name, choices)
        shown = ", ".join(choices[:12]) + (", ..." if len(choices) > 12 else "")
        super().__init__(f"unknown {kind} '{name}'{hint}; known: {shown}")

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    """An ordered name -> item mapping that refuses duplicates and suggests close names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register `item` under `name`; a second registration of the same name is an error."""
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """Return the item for `name` or raise UnknownNameError with a suggestion."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def remove(self, name: str) -> None:
        """Forget `name` (tests and plugins that re-register use this)."""
        self._items.pop(name, None)

    def names(self) -> list[str]:
        """All registered names, in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)


@dataclass(frozen=True)
class StageInfo:
    """What the pipeline needs to know about a stage: its config, function and model formats."""

    name: str
    config_cls: type
    fn: Callable[..., Any]
    needs: frozenset[str]
    makes: str | None  # None: passes its input format through unchanged
    help: str
    trains: bool = False  # runs a training loop (DDP-aware)
    extra: dict[str, Any] = field(default_factory=dict)


STAGES: Registry[StageInfo] = Registry("stage")

TORCH = "torch"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
TENSORRT = "tensorrt"
MODEL_FORMATS = (TORCH, ONNX, ONNX_INT8, TENSORRT)


def register_stage(
    name: str,
    config_cls: type,
    *,
    needs: tuple[str, ...] = (TORCH,),
    makes: str | None = TORCH,
    trains: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register `fn(model, cfg, ctx) -> StageResult` as stage `name` with its config class."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = (fn.__doc__ or config_cls.__doc__ or "").strip().splitlines()
        config_cls.stage_type = name
        STAGES.add(name, StageInfo(name, config_cls, fn, frozenset(needs), makes, doc[0] if doc else "", trains))
        return fn

    return wrap


def get_stage(name: str) -> StageInfo:
    """Look up a registered stage (built-in stages are loaded on first use)."""
    import toolkit.stages  # noqa: F401  (registers the built-in stages)

    return STAGES.get(name)


def stage_names() -> list[str]:
    """Names of all registered stages."""
    import toolkit.stages  # noqa: F401

    return STAGES.names()
