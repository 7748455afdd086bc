"""Reading checkpoints written by ``ram fit``, and checking that their weights fit a model."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ram_lightning.errors import CheckpointError


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
