"""What RAMSystem logs, and when: a training step's loss terms, and each evaluation stage's accuracy and error."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy

from ram_lightning.losses import LossTerms


def logger_writes(trainer: pl.Trainer, batch_idx: int) -> bool:
    """Whether the logger writes this training step's values (every ``trainer.log_every_n_steps`` optimizer
    steps, as Lightning decides), or it is the epoch's last batch (its values end in ``callback_metrics``)."""
    last = batch_idx + 1 >= trainer.num_training_batches
    return last or (trainer.global_step + 1) % max(1, trainer.log_every_n_steps) == 0


def log_loss_terms(module: pl.LightningModule, terms: LossTerms) -> None:
    """Logs a training step's loss, its terms and the mean reward, as ``train/<name>``."""
    module.log("train/loss", terms.total.detach(), prog_bar=True)
    module.log("train/classification", terms.classification.detach())
    module.log("train/reinforce", terms.reinforce.detach())
    module.log("train/baseline", terms.baseline.detach())
    module.log("train/reward", terms.reward, prog_bar=True)


def log_accuracy(module: pl.LightningModule, stage: str, metric: MulticlassAccuracy) -> Tensor:
    """Logs ``<stage>/acc`` and ``<stage>/err`` of the epoch; returns the accuracy ``()``, the same on every
    process."""
    accuracy = metric.compute()
    metric.reset()
    # compute() already gathered every process's counts: the value is global and identical on all processes.
    module.log(f"{stage}/acc", accuracy, prog_bar=True, sync_dist=True)
    module.log(f"{stage}/err", 1.0 - accuracy, prog_bar=stage == "val", sync_dist=True)
    return accuracy
