"""Reading checkpoints written by ``ram fit``, checking that their weights fit a model, and loading them into it."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor, nn

from ram_lightning.errors import CheckpointError, ConfigError

# The policy std buffer in a RAMSystem's state dict.
STD_KEY = "model.policy.std"


def load_checkpoint(path: str | Path, require_configs: bool = True) -> dict[str, Any]:
    """Reads a checkpoint written by ``ram fit`` (tensors and plain values only: ``weights_only`` loading).

    Args:
        path: the checkpoint file.
        require_configs: the model and data configs must be saved in it (to rebuild both from it alone).

    Raises:
        CheckpointError: the file is missing, is not a PyTorch checkpoint, or lacks the saved configs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (torch.save writes a zip archive)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors all mean "not a checkpoint we can read"
        reason = " ".join(str(error).split())[:200]
        raise CheckpointError(f"{path} could not be read as a checkpoint ({type(error).__name__}: {reason})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no 'state_dict')")
    if require_configs:
        for key, what in (("hyper_parameters", "model"), ("datamodule_hyper_parameters", "data")):
            if not isinstance(checkpoint.get(key), dict):
                raise CheckpointError(
                    f"{path} has no saved {what} config ('{key}'); use a checkpoint written by `ram fit`"
                )
    return checkpoint


def state_mismatch(expected: dict[str, Tensor], found: dict[str, Tensor], limit: int = 3) -> str:
    """One line naming missing, unexpected and differently shaped weights (empty if they match)."""
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    shapes = [
        f"{key} {tuple(found[key].shape)} instead of {tuple(expected[key].shape)}"
        for key in sorted(expected.keys() & found.keys())
        if tuple(found[key].shape) != tuple(expected[key].shape)
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if items:
            more = f" and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{label}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts)


def fit_to_model(checkpoint: dict[str, Any], model_state: dict[str, Tensor], std: float) -> None:
    """Rejects a ``checkpoint`` whose tensors do not fit ``model_state``, naming the keys and shapes.

    The policy std is a buffer, restored with the weights (callbacks may have annealed it). When the model's ``std``
    differs from the one the checkpoint was trained with, the user asked for another std: it replaces the saved
    buffer, in place, and a message says so.
    """
    state = checkpoint.get("state_dict", {})
    mismatch = state_mismatch(model_state, state)
    if mismatch:
        raise ConfigError(
            f"the checkpoint does not fit this model configuration ({mismatch}). Use the config the "
            "checkpoint was trained with (saved as config.yaml next to its checkpoints/ folder)"
        )
    saved_std = checkpoint.get("hyper_parameters", {}).get("std")
    if saved_std is not None and saved_std != std and STD_KEY in state:
        rank_zero_info(f"model.std={std} replaces the checkpoint's policy std {float(state[STD_KEY]):.4g}")
        state[STD_KEY] = torch.full_like(state[STD_KEY], std)


def load_init_weights(module: nn.Module, path: str) -> None:
    """Loads the weights of the checkpoint at ``path`` (``model.init_weights``) into ``module``, all but the policy
    std, which stays as configured."""
    weights = load_checkpoint(path, require_configs=False)["state_dict"]
    mismatch = state_mismatch(module.state_dict(), weights)
    if mismatch:
        raise ConfigError(f"model.init_weights={path} does not fit this model configuration ({mismatch})")
    std = module.get_buffer(STD_KEY).clone()
    module.load_state_dict(weights)
    module.get_buffer(STD_KEY).copy_(std)
