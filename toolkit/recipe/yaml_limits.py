"""Loading YAML as plain data, with bounds: what aliases may expand to, how deep it nests, what values it holds.

YAML aliases (`*name`) repeat an anchored node without copying it in the file, so a document of a few
hundred bytes can describe billions of values. The composed node graph is measured before anything is
constructed: its expanded size is computed once per node (linear in the file), and a document that would
expand past `MAX_NODES` values or `MAX_TEXT` characters, or refers to itself, is refused.

A recipe is plain data, so the values are checked on the node graph too, each refusal naming its path and
line: tags other than text, numbers, true/false, null, lists and mappings (`!!binary`, `!!set`, dates,
`!!python/...`), keys that are lists or mappings, integers beyond 64 bits, numbers that are not finite, and
text holding control characters (a NUL byte ends a path early in the OS; escapes rewrite the terminal).
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

import yaml

MAX_NODES = 200_000  # a recipe is a few hundred values; this leaves room for long lists in plugins' options
MAX_DEPTH = 200
MAX_TEXT = 8 * 1024 * 1024  # characters of text after aliases are followed: 8x the largest recipe file
_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = frozenset(_TAG + name for name in ("null", "bool", "int", "float", "str", "seq", "map", "merge"))
# Bidirectional overrides make a shown path or name read differently from what it is ("Trojan source")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class YamlRefused(ValueError):
    """A value a recipe may not hold; `path` is where it is ('stages[0].train.epochs'), the message says why."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.path = path


class YamlTooLarge(YamlRefused):
    """The document expands past the bound, nests too deeply, or contains a recursive alias."""


def expanded_size(root: yaml.Node, limit: int = MAX_NODES, text_limit: int = MAX_TEXT) -> int:
    """Number of values `root` expands to with every alias followed.

    Raises YamlTooLarge past `limit` values or `text_limit` characters of scalar text, deeper than
    MAX_DEPTH, or for an alias inside the node it names.
    """
    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def size(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlTooLarge("a YAML alias refers to the node that contains it (a recursive document)")
        if depth > MAX_DEPTH:
            raise YamlTooLarge(f"the document nests deeper than {MAX_DEPTH} levels")
        active.add(key)
        total, text = 1, 0
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            text = len(node.value)
        for child in children:
            count, chars = size(child, depth + 1)
            total, text = total + count, text + chars
        active.discard(key)
        if total > limit or text > text_limit:
            what = f"more than {limit} values" if total > limit else f"more than {text_limit} characters of text"
            raise YamlTooLarge(f"the document expands to {what} through YAML aliases "
                               f"(anchors '&' repeated with '*'); write the values out instead")
        sizes[key] = (total, text)
        return sizes[key]

    return size(root, 0)[0]


def _shown(text: str, width: int = 40) -> str:
    """`text` as a quoted, escaped literal short enough for one line of an error message."""
    quoted = repr(text)
    return quoted if len(quoted) <= width else quoted[: width - 4] + "...'"


def control_character(text: str) -> str | None:
    """The first control character of `text` as 'U+001B', or None; tab, newline and carriage return are text."""
    for char in text:
        category = unicodedata.category(char)
        if char not in "\t\n\r" and (category in ("Cc", "Cs") or char in _BIDI):
            return f"U+{ord(char):04X}"
    return None


def _scalar_problem(node: yaml.ScalarNode, value: Any) -> str | None:
    """Why a constructed scalar cannot be a recipe value, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) and not -(2 ** 63) <= value < 2 ** 63:
        return f"the integer {_shown(node.value)} does not fit in 64 bits"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{_shown(node.value)} is not a finite number"
    if isinstance(value, str):
        found = control_character(value)
        if found:
            return f"the text {_shown(value)} holds the control character {found}"
    return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_values(root: yaml.Node, loader: yaml.SafeLoader) -> None:
    """Refuse what a plain-data recipe cannot hold; each node is visited once, aliases included.

    Call after expanded_size (it bounds the depth this walk recurses to). Raises YamlRefused whose `path`
    names the value and whose message gives the line.
    """
    seen: set[int] = set()

    def walk(node: yaml.Node, path: str) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        line = f"line {node.start_mark.line + 1}"
        if node.tag == _TAG + "timestamp":
            raise YamlRefused(f"{_shown(node.value)} ({line}) is read as a date, which no option takes; quote it "
                              f"to make it text", path)
        if node.tag not in PLAIN_TAGS:
            tag = "!!" + node.tag[len(_TAG):] if node.tag.startswith(_TAG) else node.tag
            raise YamlRefused(f"not valid YAML for a recipe: the tag {_shown(tag, 60)} ({line}) is not allowed; a "
                              f"recipe holds text, numbers, true/false, null, lists and mappings", path)
        if isinstance(node, yaml.ScalarNode):
            problem = None if node.tag == _TAG + "merge" else _scalar_problem(node, loader.construct_object(node))
            if problem:
                raise YamlRefused(f"{problem} ({line})", path)
        elif isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                walk(child, f"{path}[{i}]")
        else:
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    raise YamlRefused(f"a key is a {'list' if isinstance(key, yaml.SequenceNode) else 'mapping'} "
                                      f"(line {key.start_mark.line + 1}); keys are names", path)
                walk(key, path)
                walk(value, _join(path, key.value))

    walk(root, "")


def yaml_error_line(exc: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: what is wrong and at which line and column of the file."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    mark = exc.problem_mark or exc.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return "; ".join(" ".join(part.split()) for part in (exc.context, exc.problem) if part) + where


def _check_depth(text: str, loader_cls: type) -> None:
    """YamlTooLarge past MAX_DEPTH levels, found from the parser's events before the (recursive) composer runs:
    a document nested thousands deep is refused at once, with its line, not by a RecursionError."""
    # libyaml's parser where PyYAML has it: the pure-Python one would double the time of a large recipe
    loader, depth = getattr(yaml, "CSafeLoader", loader_cls)(text), 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlTooLarge(f"the document nests deeper than {MAX_DEPTH} levels "
                                       f"(line {event.start_mark.line + 1})")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # invalid YAML: the loader itself reports it, in its own words
    finally:
        loader.dispose()


def load_bounded(text: str, loader_cls: type = yaml.SafeLoader, limit: int = MAX_NODES) -> Any:
    """Load one YAML document of plain data with `loader_cls` (a SafeLoader subclass), refusing alias bombs.

    Raises yaml.YAMLError for invalid YAML, YamlTooLarge for a document past the bounds and YamlRefused for
    a value a recipe cannot hold (see check_values).
    """
    _check_depth(text, loader_cls)
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node, limit)
        check_values(node, loader)
        return loader.construct_document(node)
    finally:
        loader.dispose()
