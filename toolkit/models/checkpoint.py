"""Reading user state_dict files safely: safetensors, or torch files with weights_only=True."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from toolkit.errors import ArtifactError


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from .safetensors or a torch file (never unpickling code)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every unreadable file is reported with its path
        raise ArtifactError(f"{path}: cannot read a state_dict ({type(exc).__name__}: {exc})") from None
    for wrapper in ("state_dict", "model", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"{path}: does not hold a state_dict of tensors")
    prefix = "module."  # saved from DataParallel/DDP
    if state and all(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Load a state_dict file into `model`, strictly: missing or surplus keys are reported."""
    state = read_state_dict(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    surplus = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model" for k in wrong]
    if missing or surplus or wrong:  # the shapes say e.g. a classifier for 10 classes where the data has 2
        detail = "; ".join(f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", surplus), ("shape differs", shapes))
                           if keys)
        raise ArtifactError(f"model.checkpoint {path} does not fit the model ({detail}); "
                            + _next_step(model, own, state, wrong, missing or surplus))
    model.load_state_dict(state)


def _next_step(model: nn.Module, own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], wrong: list[str],
               other_keys: list[str]) -> str:
    """What to change when a file does not fit: only the classifier's outputs differ (the file was trained for
    another class count), or the architecture or its options differ."""
    heads = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    head = heads[-1] if heads else None
    if head and not other_keys and wrong and all(k.rsplit(".", 1)[0] == head and state[k].shape[1:] == own[k].shape[1:]
                                                 and state[k].shape[0] != own[k].shape[0] for k in wrong):
        saved, built = state[wrong[0]].shape[0], own[wrong[0]].shape[0]
        return (f"the file's classifier {head} has {saved} outputs, the model's {built} (model.num_classes defaults "
                f"to the data's class count): use the data it was trained on, or set model.num_classes: {saved}")
    return "check model.arch and model.kwargs (e.g. width) against the model the file was saved from"
