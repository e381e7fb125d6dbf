"""Loading YAML with a bound on what aliases may expand to ("billion laughs" documents).

YAML aliases (`*name`) repeat an anchored node without copying it in the file, so a document of a few
hundred bytes can describe billions of values. The composed node graph is measured before anything is
constructed: its expanded size is computed once per node (linear in the file), and a document that would
expand past `MAX_NODES` values, or refers to itself, is refused.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 200_000  # a recipe is a few hundred values; this leaves room for long lists in plugins' options
MAX_DEPTH = 200


class YamlTooLarge(ValueError):
    """The document expands past the bound, nests too deeply, or contains a recursive alias."""


def expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """Number of values `root` expands to with every alias followed; YamlTooLarge past `limit`."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlTooLarge("a YAML alias refers to the node that contains it (a recursive document)")
        if depth > MAX_DEPTH:
            raise YamlTooLarge(f"the document nests deeper than {MAX_DEPTH} levels")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        active.discard(key)
        if total > limit:
            raise YamlTooLarge(f"the document expands to more than {limit} values through YAML aliases "
                               f"(anchors '&' repeated with '*'); write the values out instead")
        sizes[key] = total
        return total

    return size(root, 0)


def load_bounded(text: str, loader_cls: type = yaml.SafeLoader, limit: int = MAX_NODES) -> Any:
    """Load one YAML document with `loader_cls` (a SafeLoader subclass), refusing alias bombs.

    Raises yaml.YAMLError for invalid YAML and YamlTooLarge for a document past the bound.
    """
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node, limit)
        return loader.construct_document(node)
    finally:
        loader.dispose()
