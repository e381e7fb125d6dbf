"""The recipe reference (`compress stages`, docs/recipes.md): every recipe key, then every stage's options, with
types, choices, defaults and help, all read from the pydantic models (RecipeHead and its sections, stage configs).

Defaults are read from the stage's config as constructed (`Prune()`), so a nested block shows the values
that stage gives it (prune's `finetune.lr` is 0.01, not the train loop's 0.05), and values are written
as they would be in a recipe (`null`, `true`, `calibration`), never as Python reprs.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel


def yaml_value(value: Any) -> str:
    """A default as a recipe writes it: null, true, 0.05, sgd, [a, b], {k: v}."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return yaml_value(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, BaseModel):
        return yaml_value(value.model_dump(mode="json", by_alias=True, exclude_none=True))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return value if value and value.strip() == value and ":" not in value else json.dumps(value)
    return str(value)


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return list(typing.get_args(annotation))
    return [annotation]


def choices(annotation: Any) -> list[str] | None:
    """The allowed values of a Literal or Enum field (also inside Optional), as YAML strings; else None."""
    found: list[str] = []
    for member in _members(annotation):
        if typing.get_origin(member) is typing.Literal:
            found += [yaml_value(v) for v in typing.get_args(member)]
        elif isinstance(member, type) and issubclass(member, enum.Enum):
            found += [yaml_value(m.value) for m in member]
    return found or None


def type_name(annotation: Any) -> str:
    """'int', 'float or null', 'one of: sgd, adamw', 'list of str', 'options (below)'."""
    allowed = choices(annotation)
    optional = type(None) in _members(annotation)
    names = []
    for member in _members(annotation):
        if typing.get_origin(member) is typing.Annotated:  # a constrained type, e.g. int with ge/le
            member = typing.get_args(member)[0]
        if member is type(None) or typing.get_origin(member) is typing.Literal or (
                isinstance(member, type) and issubclass(member, enum.Enum)):
            continue  # null is said last; literal and enum values are the choices
        origin = typing.get_origin(member)
        if origin in (list, tuple, set):
            inner = typing.get_args(member)
            names.append(f"list of {type_name(inner[0]) if inner else 'values'}")
        elif origin is dict:
            names.append("mapping")
        elif isinstance(member, type) and issubclass(member, BaseModel):
            names.append("options (below)")
        elif isinstance(member, type) and issubclass(member, PurePath):
            names.append("path")
        elif member is Any:
            names.append("any")
        else:
            names.append(getattr(member, "__name__", str(member).replace("typing.", "")))
    text = " or ".join(dict.fromkeys(names))
    if allowed:  # e.g. round_to: 'int or one of: auto'
        text = (text + " or " if text else "") + "one of: " + ", ".join(allowed)
    return (text or "any") + (" or null" if optional else "")


def _nested_class(annotation: Any) -> type[BaseModel] | None:
    members = [m for m in _members(annotation) if m is not type(None)]
    if len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], BaseModel):
        return members[0]
    return None


def option_rows(config: BaseModel, prefix: str = "", unset: str = "null (off)") -> list[tuple[str, str, str, str]]:
    """(YAML key, type, default, help) of every option of a config instance, one level of nesting.

    A nested block that is null by default (`qat: null`, shown as `unset`) lists the defaults it gets when set.
    """
    rows = []
    for field_name, field in type(config).model_fields.items():
        key = prefix + (field.alias or field_name)
        value = getattr(config, field_name)
        nested = _nested_class(field.annotation)
        help_text = field.description or ""
        if nested is None or prefix:
            rows.append((key, type_name(field.annotation), yaml_value(value), help_text))
            continue
        off = value is None
        rows.append((key, type_name(field.annotation), unset if off else "see below", help_text))
        inner = nested() if off else value
        for sub_key, kind, default, sub_help in option_rows(inner, key + "."):
            rows.append((sub_key, kind, default + (" when set" if off else ""), sub_help))
    return rows


def _instance(cls: type[BaseModel]) -> BaseModel | None:
    try:
        return cls()
    except Exception:  # noqa: BLE001 - a plugin config with required fields: fall back to class defaults
        return None


def _field_row(key: str, field: Any) -> tuple[str, str, str, str]:
    default = "required" if field.is_required() else yaml_value(field.get_default(call_default_factory=True))
    return key, type_name(field.annotation), default, field.description or ""


def _class_rows(cls: type[BaseModel]) -> list[tuple[str, str, str, str]]:
    return [_field_row(field.alias or field_name, field) for field_name, field in cls.model_fields.items()]


def recipe_rows() -> list[tuple[str, str, str, str]]:
    """(YAML key, type, default, help) of every top-level recipe key and of its sections' keys (`data.root`),
    read from RecipeHead; `stages` last."""
    from toolkit.recipe import RecipeHead

    rows = []
    for field_name, field in RecipeHead.model_fields.items():
        key = field.alias or field_name
        nested = _nested_class(field.annotation)
        if nested is None:
            rows.append(_field_row(key, field))
            continue
        rows.append((key, type_name(field.annotation), "required" if field.is_required() else "see below",
                     field.description or ""))
        instance = _instance(nested)
        # a section's null block is not off (data.augment: null is the data set's default augmentation)
        inner = option_rows(instance, unset="null") if instance is not None else _class_rows(nested)
        rows += [(f"{key}.{sub_key}", kind, default, text) for sub_key, kind, default, text in inner]
    rows.append(("stages", "list of stages", "required", "the stages in order, each `- type: {options}` (below)"))
    return rows


def _cell(text: str) -> str:
    """Escape a Markdown table cell (`<output>/<name>` is text, not an HTML tag)."""
    return text.replace("|", "\\|").replace("<", "&lt;")


def _default_cell(default: str) -> str:
    """`0.01`, `2` when set, see below, required."""
    if default in ("see below", "null (off)", "required"):
        return default
    value, when = (default[: -len(" when set")], " when set") if default.endswith(" when set") else (default, "")
    return f"`{_cell(value)}`{when}"


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| option | type | default | help |", "| --- | --- | --- | --- |"]
    return lines + [f"| `{key}` | {_cell(kind)} | {_default_cell(default)} | {_cell(desc)} |"
                    for key, kind, default, desc in rows]


def _listing(rows: list[tuple[str, str, str, str]]) -> list[str]:
    lines = []
    for key, kind, default, desc in rows:
        allowed = f"  [{kind}]" if kind.startswith("one of") else ""
        lines.append(f"    {key} = {default}{allowed}  {desc}".rstrip())
    return lines


def stage_reference(markdown: bool = False) -> str:
    """Every recipe key, then every stage with its options (YAML keys, nested ones too), types or choices,
    defaults and help."""
    from toolkit.stages import get_stage, stage_names

    head = recipe_rows()
    if markdown:
        lines = ["# Recipe reference", "", "Generated by `compress stages --markdown`; do not edit by hand.", "",
                 "## Recipe keys", "", "The keys of a recipe file and of its sections (`data.root` is `root:` under "
                 "`data:`); each stage's options follow.", "", *_table(head), ""]
    else:
        lines = ["recipe keys (each stage's options follow)", *_listing(head), ""]
    for name in stage_names():
        info = get_stage(name)
        needs = ", ".join(sorted(info.needs))
        makes = info.makes or "same as input"
        instance = _instance(info.config_cls)
        rows = option_rows(instance) if instance is not None else _class_rows(info.config_cls)
        if markdown:
            lines += [f"## `{name}`", "", info.help, "", f"Takes: {needs}. Makes: {makes}.", "", *_table(rows)]
        else:
            lines += [f"{name}: {info.help}", f"  takes {needs}; makes {makes}", *_listing(rows)]
        lines.append("")
    return "\n".join(lines)
