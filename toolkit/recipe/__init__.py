"""Recipes: read a YAML file safely (size, depth and alias limits), validate it whole, resolve cross-stage facts.

The face of the package; the work is in `parse.py` (the schema and the checks), `file_bounds.py` and
`yaml_limits.py` (hostile files), `problems.py` (pydantic errors as `path: message` lines). No torch import.
"""

from toolkit.recipe.parse import (
    Recipe,
    RecipeHead,
    ReportSpec,
    apply_overrides,
    check_names,
    check_stage_chain,
    load_plugins,
    load_recipe,
    parse_recipe,
    read_yaml,
    recipe_json_schema,
)

__all__ = ["Recipe", "RecipeHead", "ReportSpec", "apply_overrides", "check_names", "check_stage_chain",
           "load_plugins", "load_recipe", "parse_recipe", "read_yaml", "recipe_json_schema"]
