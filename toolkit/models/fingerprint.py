"""A content hash of a torch module (class, structure, weights): the identity of a model in cache keys."""

from __future__ import annotations

import hashlib

from torch import nn

from toolkit.fsutil import stable_hash
from toolkit.models.io import describe_structure


def model_fingerprint(model: nn.Module) -> str:
    """Content hash of a module: its class, structure (shapes) and every weight and buffer."""
    digest = hashlib.sha256()
    digest.update(type(model).__qualname__.encode())
    digest.update(stable_hash(describe_structure(model)).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
