"""Trainer settings that RAMSystem checks before it runs (the precision ones are in :mod:`ram_lightning.precision`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytorch_lightning.strategies import DDPStrategy, Strategy

from ram_lightning.errors import ConfigError


def check_ddp_unused_parameters(strategy: Strategy, unused: list[str]) -> None:
    """Rejects DDP that does not look for unused parameters when ``unused`` (settings that leave parameters without a
    gradient, each named with them) is not empty: DDP would stop at the second step."""
    if not unused or not isinstance(strategy, DDPStrategy):
        return
    if getattr(strategy, "_ddp_kwargs", {}).get("find_unused_parameters", False):
        return
    raise ConfigError(
        f"{'; '.join(unused)}: parameters without a gradient stop plain DDP at its second step; "
        "set trainer.strategy: ddp_find_unused_parameters_true"
    )


def settings_without_gradient(hparams: Mapping[str, Any]) -> list[str]:
    """The settings among a RAMSystem's ``hparams`` that leave parameters out of the loss at every step, each naming
    those parameters."""
    unused = []
    if hparams["num_glimpses"] == 1:
        unused.append("model.num_glimpses=1 leaves the location policy (model.policy) unused")
    elif hparams["reinforce_weight"] == 0:
        unused.append("model.reinforce_weight=0 leaves the location policy (model.policy) without a gradient")
    if hparams["baseline"] == "learned" and hparams["baseline_weight"] == 0:
        unused.append("model.baseline_weight=0 leaves the learned baseline (model.baseline) without a gradient")
    return unused
