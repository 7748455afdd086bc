"""StdSchedule: a fixed decay of the location policy's standard deviation over the first epochs."""

from __future__ import annotations

from typing import Any, Literal

import pytorch_lightning as pl
from typing_extensions import override

from callbacks._policy import check_single_std_controller, policy_std, set_policy_std
from ram_lightning.errors import ConfigError

Decay = Literal["linear", "exponential"]


class StdSchedule(pl.Callback):
    """Decays the policy std from ``start_std`` to ``end_std`` over ``epochs`` epochs, then keeps ``end_std``.

    At the start of epoch ``e`` (0-based), with ``p = min(e / epochs, 1)``, the std becomes
    ``start + (end - start) * p`` (``linear``) or ``start * (end / start) ** p`` (``exponential``). It is logged as
    ``policy/std`` by ``RAMSystem``. The schedule depends only on the epoch, so every DDP process sets the same
    value, and a resumed run continues it (``start_std`` is saved with the callback's state).

    Args:
        end_std: std reached after ``epochs`` epochs (``> 0``).
        epochs: length of the decay in epochs (at least 1).
        start_std: std at epoch 0; ``None`` takes the model's std when training first starts (``model.std``).
        decay: ``"linear"`` or ``"exponential"``.
    """

    controls_policy_std = True

    def __init__(
        self, end_std: float, epochs: int, start_std: float | None = None, decay: Decay = "exponential"
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if not end_std > 0:
            raise ConfigError(f"{name}.end_std must be > 0, got {end_std}")
        if start_std is not None and not start_std > 0:
            raise ConfigError(f"{name}.start_std must be > 0 or null, got {start_std}")
        if epochs < 1:
            raise ConfigError(f"{name}.epochs must be >= 1, got {epochs}")
        if decay not in ("linear", "exponential"):
            raise ConfigError(f"{name}.decay must be 'linear' or 'exponential', got {decay!r}")
        self.end_std = end_std
        self.epochs = epochs
        self.start_std = start_std
        self.decay = decay

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        policy_std(pl_module, type(self).__name__)
        check_single_std_controller(trainer, self)

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs after a checkpoint's state is restored, so a resumed run keeps its original start.
        if self.start_std is None:
            self.start_std = float(policy_std(pl_module, type(self).__name__))

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        set_policy_std(pl_module, self.std_at(trainer.current_epoch), type(self).__name__)

    def std_at(self, epoch: int) -> float:
        """The scheduled std at the start of ``epoch``."""
        if self.start_std is None:
            raise RuntimeError("start_std is unknown until training starts; give start_std to ask before")
        progress = min(epoch / self.epochs, 1.0)
        if self.decay == "linear":
            return self.start_std + (self.end_std - self.start_std) * progress
        return self.start_std * (self.end_std / self.start_std) ** progress

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"start_std": self.start_std}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("start_std") is not None:
            self.start_std = float(state_dict["start_std"])
