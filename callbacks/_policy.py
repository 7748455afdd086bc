"""Helpers shared by the callbacks that set the location policy's standard deviation."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor

from ram_lightning.errors import ConfigError


def policy_std(pl_module: pl.LightningModule, owner: str) -> Tensor:
    """The 0-dim buffer ``pl_module.model.policy.std``; a :class:`ConfigError` naming ``owner`` if there is none."""
    std = getattr(getattr(getattr(pl_module, "model", None), "policy", None), "std", None)
    if not isinstance(std, Tensor):
        raise ConfigError(
            f"{owner} sets the location policy's std through `model.policy.std`, which "
            f"{type(pl_module).__name__} does not have; use it with ram_lightning.RAMSystem"
        )
    return std


@torch.no_grad()
def set_policy_std(pl_module: pl.LightningModule, value: float, owner: str) -> None:
    """Writes ``value`` into the std buffer in place, so it stays the tensor that checkpoints save."""
    policy_std(pl_module, owner).fill_(value)


def check_single_std_controller(trainer: pl.Trainer, callback: pl.Callback) -> None:
    """Raises :class:`ConfigError` if another callback also sets the policy std (their changes would clash)."""
    others = [
        type(other).__name__
        for other in trainer.callbacks
        if other is not callback and getattr(other, "controls_policy_std", False)
    ]
    if others:
        raise ConfigError(
            f"{type(callback).__name__} and {', '.join(others)} both set the location policy's std; "
            "keep one of them in trainer.callbacks"
        )
