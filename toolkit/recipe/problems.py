"""Turn pydantic validation errors into (path, message) pairs that name the recipe path."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from toolkit.registry import did_you_mean


def join_path(prefix: str, loc: tuple[Any, ...] | list[Any]) -> str:
    """Render a location like ('stages', 1, 'train', 'epochs') as 'stages[1].train.epochs'."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_class(annotation: Any) -> Any:
    """Strip Optional/Union/Annotated around a BaseModel class; return the inner annotation otherwise."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_class(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _model_class(members[0]) if len(members) == 1 else annotation
    return annotation


def _class_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow field annotations from `root` along `loc`; None where the path leaves pydantic models."""
    current: Any = root
    for part in loc:
        current = _model_class(current)
        if isinstance(part, int) or typing.get_origin(current) in (list, dict, tuple):
            args = typing.get_args(current)
            current = args[-1] if args else None
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return None
    current = _model_class(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_from(error: ValidationError, root: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    """Convert a pydantic ValidationError raised for `root` into (path, message) pairs."""
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = join_path(prefix, loc)
        if item["type"] == "extra_forbidden":
            parent = _class_at(root, loc[:-1])
            # YAML keys: a field's alias where it has one (`global`, not `global_pruning`)
            fields = [f.alias or name for name, f in parent.model_fields.items()] if parent else []
            if loc == ("sweep",) and root.__name__.startswith("Recipe"):  # a sweep recipe given to one run
                problems.append((path, "a sweep: section is run by `compress sweep RECIPE` (docs/sweep.md); "
                                       "`compress run` runs one recipe: remove the section to run it once"))
                continue
            hint = did_you_mean(str(loc[-1]), fields)
            allowed = f"; allowed keys: {', '.join(fields)}" if fields else ""
            problems.append((path, f"unknown key{hint}{allowed}"))
            continue
        message = item["msg"]
        if item["type"] == "value_error":  # our validators' own sentence, without pydantic's "Value error, "
            message = message.removeprefix("Value error, ")
            # a validator of a list field that names the bad item ("[1]: ...") extends the path to that item
            item_index = re.match(r"\[(\d+)\]: ", message)
            if item_index:
                path, message = f"{path}[{item_index.group(1)}]", message[item_index.end():]
        if item["type"] not in ("missing",) and not isinstance(item.get("input"), (dict, list)):
            message += f" (got {_short(item.get('input'))})"
        problems.append((path, message))
    return problems
