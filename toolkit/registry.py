"""Name -> factory registries for stages, models, datasets and runtimes (duplicate names are errors).

A leaf: it imports nothing of the toolkit above `config`, `artifacts` and `errors`. Looking stages up by
name (which first imports the built-in stages and plugins) is the catalogue's job: `toolkit.stages`.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from toolkit.artifacts import TORCH
from toolkit.config import StageConfig

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
    target: Callable[..., Any] | str  # the stage function, or 'package.module:function' imported on first use
    needs: frozenset[str]
    makes: str | None  # None: passes its input format through unchanged
    help: str

    @property
    def fn(self) -> Callable[..., Any]:
        """The stage function `fn(model, cfg, ctx) -> StageResult` (its module is imported here, on first use)."""
        if callable(self.target):
            return self.target
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


STAGES: Registry[StageInfo] = Registry("stage")
STAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")

CONFIG_TO_STAGE: dict[type, str] = {}  # config class -> stage name (the class itself is not renamed)


def _config_class_of(fn: Callable[..., Any]) -> type:
    """The annotated type of a stage function's second parameter (its config class)."""
    import inspect
    import typing

    params = list(inspect.signature(fn).parameters)
    hints = typing.get_type_hints(fn) if len(params) >= 2 else {}
    config_cls = hints.get(params[1]) if len(params) >= 2 else None
    if not isinstance(config_cls, type):
        raise TypeError(f"register_stage: annotate {fn.__name__}'s second parameter with its config class "
                        f"(a StageConfig subclass), or pass the class to register_stage")
    return config_cls


def register_stage(
    name: str,
    config_cls: type | None = None,
    *,
    needs: tuple[str, ...] = (TORCH,),
    makes: str | None = TORCH,
    help: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register `fn(model, cfg: MyConfig, ctx) -> StageResult` as stage `name` (YAML key and API).

    A stage that trains says so with its config's `trains()` method (then every rank of a distributed run
    takes part in it).
    """
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        cls = config_cls or _config_class_of(fn)  # a path target (register_stage_by_path) always names its class
        if not (isinstance(cls, type) and issubclass(cls, StageConfig)):
            raise TypeError(f"register_stage('{name}'): {cls!r} is not a StageConfig subclass")
        if not STAGE_NAME.match(name):
            raise ValueError(f"register_stage: '{name}' is not a valid stage name (lowercase, digits, _ and -)")
        owner = CONFIG_TO_STAGE.get(cls)
        if owner and owner in STAGES and owner != name:
            raise ValueError(f"register_stage('{name}'): {cls.__name__} is already the config of stage "
                             f"'{owner}'; give each stage its own config class (a subclass is enough)")
        doc = (help or getattr(fn, "__doc__", None) or cls.__doc__ or "").strip().splitlines()
        STAGES.add(name, StageInfo(name, cls, fn, frozenset(needs), makes, doc[0] if doc else ""))
        CONFIG_TO_STAGE[cls] = name
        cls.stage_type = name  # read as cfg.stage_type; set once, since a second owner is refused above
        return fn

    return wrap


def register_stage_by_path(name: str, config_cls: type, target: str, *, needs: tuple[str, ...], makes: str | None,
                           help: str) -> None:
    """Register stage `name` whose function is `target` ('package.module:function'), imported when it first runs.

    The built-in stages register this way (toolkit.stages), so that validating a recipe, listing stages and
    writing their reference load only the configs, not torch. Same checks as `register_stage`."""
    register_stage(name, config_cls, needs=needs, makes=makes, help=help)(target)  # type: ignore[arg-type]


def unregister_stage(name: str) -> None:
    """Forget stage `name` and its config class (tests and plugins that re-register use this)."""
    info = STAGES._items.get(name)
    if info is not None and CONFIG_TO_STAGE.get(info.config_cls) == name:
        del CONFIG_TO_STAGE[info.config_cls]
    STAGES.remove(name)


def stage_of_config(config_cls: type) -> str | None:
    """The stage name a config class is registered to, or None."""
    return CONFIG_TO_STAGE.get(config_cls)
