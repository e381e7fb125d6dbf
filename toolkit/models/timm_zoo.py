"""timm models by name: `model: {arch: "timm:NAME"}` builds `timm.create_model(NAME, pretrained=False, ...)`.

timm is an optional extra (`pip install -e ".[timm]"`). Nothing is ever downloaded: weights come only from
`model.checkpoint`, so `pretrained` and timm's own checkpoint and hub options are refused. Naming and checking a
timm name imports neither timm nor torch within `names_only()` (the form is checked, the name is left to the
pre-flight); the full check imports timm to look the name up.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from typing import TYPE_CHECKING, Any

from toolkit.errors import UserInputError

if TYPE_CHECKING:
    from torch import nn

PREFIX = "timm:"
INSTALL = 'timm is not installed; timm models are an optional extra: pip install -e ".[timm]"'
# a timm architecture, optionally with a pretrained tag ('resnet18.a1_in1k'); no 'hf-hub:' or 'local-dir:' source
NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_-]+)?$")
# create_model's options that load or fetch weights or configs: weights come only from model.checkpoint
REFUSED_KWARGS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path", "cache_dir")


def is_timm(arch: str) -> bool:
    """Whether `arch` names a timm model ('timm:NAME')."""
    return arch.startswith(PREFIX)


def timm_installed() -> bool:
    """Whether timm can be imported (located, not imported)."""
    try:
        return importlib.util.find_spec("timm") is not None
    except (ImportError, ValueError):
        return False


def timm_problem(arch: str, *, import_timm: bool = True) -> str | None:
    """Why the timm model `arch` ('timm:NAME') cannot be built, or None.

    `import_timm=False` (`compress validate --schema-only`) checks the form and that timm is installed, without
    importing it; otherwise the name is looked up in timm's registry, and an unknown one gets close names.
    """
    name = arch[len(PREFIX):]
    if not NAME.match(name):
        return f"'{arch}' is not of the form 'timm:NAME' (a timm model name, e.g. timm:ghostnet_100)"
    if not timm_installed():
        return INSTALL
    if not import_timm:
        return None
    import timm

    if timm.is_model(name):
        return None
    close = difflib.get_close_matches(name.partition(".")[0], timm.list_models(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(f'timm:{c}' for c in close)}?" if close else \
        "; timm.list_models() lists them"
    return f"unknown timm model '{name}'{hint}"


def build_timm(arch: str, num_classes: int, in_chans: int, kwargs: dict[str, Any]) -> nn.Module:
    """`timm.create_model(NAME, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)`.

    Raises UserInputError when timm is missing, the name is unknown, or kwargs ask for downloaded or file
    weights (use model.checkpoint) or are refused by the model.
    """
    problem = timm_problem(arch)
    if problem:
        raise UserInputError(f"model.arch: {problem}")
    refused = [k for k in REFUSED_KWARGS if k in kwargs]
    if refused:
        raise UserInputError(f"model.kwargs: {', '.join(refused)} cannot be set for a timm model: nothing is "
                             f"downloaded, and weights come only from model.checkpoint")
    import timm

    try:
        return timm.create_model(arch[len(PREFIX):], pretrained=False, num_classes=num_classes, in_chans=in_chans,
                                 **kwargs)
    except TypeError as exc:
        raise UserInputError(f"model.kwargs: {arch} does not take these arguments ({exc})") from None
    except ValueError as exc:  # the model refuses the values (e.g. an input channel count it cannot take)
        raise UserInputError(f"model: {arch}: {exc}") from None
