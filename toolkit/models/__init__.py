"""Model zoo: `build_model(spec)` for own models, torchvision names and 'package.module:function';
`load_model(path)` for a saved toolkit model (safetensors + structure.json, no code from the files)."""

from toolkit.models.factory import MODELS, build_model, check_arch, logits_model, model_names, register_model
from toolkit.models.io import load_model

__all__ = ["MODELS", "build_model", "check_arch", "load_model", "logits_model", "model_names", "register_model"]
