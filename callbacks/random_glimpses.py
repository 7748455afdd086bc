"""RandomGlimpsePretraining: train on uniformly random glimpses first, then hand over to the learned policy."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.utilities import rank_zero_info
from typing_extensions import override

from ram_lightning.errors import ConfigError


class RandomGlimpsePretraining(pl.Callback):
    """For the first ``epochs`` epochs (or ``steps`` optimizer steps), glimpse at uniformly random locations.

    During the phase every training glimpse location, the first one included, is drawn uniformly from
    ``[-1, 1]^2`` instead of from the policy (``model.random_glimpses``). The glimpse, core and action networks
    learn by classification, the baseline too unless ``train_baseline`` is false; the location policy is not used,
    so it receives no gradient and no optimizer step (its ``.grad`` stays ``None``, which SGD with momentum, Adam
    and weight decay all skip). Validation always follows the policy. Then the learned policy takes over; the
    switch is printed and ``policy/random_glimpses`` (the fraction of random-glimpse batches per epoch) is logged.

    The phase is measured in the trainer's epoch and step counters, which checkpoints restore, so a run resumed in
    the middle of the phase finishes it and hands over at the same point.

    Under DDP the unused policy parameters need ``trainer.strategy: ddp_find_unused_parameters_true``.

    Args:
        epochs: length of the phase in epochs (``1`` if neither ``epochs`` nor ``steps`` is given).
        steps: length of the phase in optimizer steps instead.
        train_baseline: train the baseline during the phase (``False`` leaves it untouched: no loss term, no
            running-mean update).
    """

    def __init__(self, epochs: int | None = None, steps: int | None = None, train_baseline: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if epochs is not None and steps is not None:
            raise ConfigError(f"{name}: give either epochs or steps, not both (got epochs={epochs}, steps={steps})")
        if epochs is None and steps is None:
            epochs = 1
        if epochs is not None and epochs < 0:
            raise ConfigError(f"{name}.epochs must be >= 0, got {epochs}")
        if steps is not None and steps < 0:
            raise ConfigError(f"{name}.steps must be >= 0, got {steps}")
        self.epochs = epochs
        self.steps = steps
        self.train_baseline = train_baseline
        self.handed_over = False

    def in_phase(self, trainer: pl.Trainer) -> bool:
        """Whether the next training batch glimpses at random."""
        if self.steps is not None:
            return trainer.global_step < self.steps
        return trainer.current_epoch < self.epochs

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        name = type(self).__name__
        if not hasattr(getattr(pl_module, "model", None), "random_glimpses"):
            raise ConfigError(f"{name} needs `model.random_glimpses`, which {type(pl_module).__name__} lacks")
        if not self.train_baseline and not hasattr(pl_module, "train_baseline"):
            raise ConfigError(f"{name}.train_baseline=false needs `train_baseline` on {type(pl_module).__name__}")
        strategy = trainer.strategy
        if stage == "fit" and isinstance(strategy, DDPStrategy):
            if not getattr(strategy, "_ddp_kwargs", {}).get("find_unused_parameters", False):
                raise ConfigError(
                    f"{name}: the location policy takes no part in the loss during the random-glimpse phase; "
                    "under DDP set trainer.strategy: ddp_find_unused_parameters_true"
                )

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        random = self.in_phase(trainer)
        pl_module.model.random_glimpses = random
        if not self.train_baseline:
            pl_module.train_baseline = not random
        if not random and not self.handed_over:
            self.handed_over = True
            if self.epochs or self.steps:
                rank_zero_info(
                    f"{type(self).__name__}: random-glimpse phase over at epoch {trainer.current_epoch}, "
                    f"step {trainer.global_step}; the learned location policy takes over"
                )
        pl_module.log("policy/random_glimpses", float(random), on_step=False, on_epoch=True, sync_dist=True)

    @override
    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pl_module.model.random_glimpses = False

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(pl_module)

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore(pl_module)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"handed_over": self.handed_over}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.handed_over = bool(state_dict["handed_over"])

    @staticmethod
    def _restore(pl_module: pl.LightningModule) -> None:
        """Leaves the module as it was without this callback: policy glimpses, baseline trained."""
        pl_module.model.random_glimpses = False
        if hasattr(pl_module, "train_baseline"):
            pl_module.train_baseline = True
