"""Training logs: the step's terms when the logger writes them (and at the epoch's end), the accuracy per epoch."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from tiny_training import MemoryLogger
from torch.utils.data import DataLoader, TensorDataset

from ram_lightning.system import RAMSystem


def _fit(batches: int, log_every_n_steps: int) -> tuple[pl.Trainer, MemoryLogger]:
    torch.manual_seed(0)
    images, labels = torch.rand(batches * 8, 1, 16, 16), torch.randint(0, 4, (batches * 8,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=8)
    system = RAMSystem(num_classes=4, image_size=16, num_glimpses=2, patch_size=4, hidden_size=16, glimpse_size=16)
    logger = MemoryLogger()
    trainer = pl.Trainer(
        max_epochs=1,
        logger=logger,
        log_every_n_steps=log_every_n_steps,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(system, train_dataloaders=loader)
    return trainer, logger


def test_terms_are_logged_when_written_and_accuracy_covers_every_step():
    trainer, logger = _fit(batches=6, log_every_n_steps=1)
    rewards = logger.series("train/reward")
    assert len(rewards) == 6 and len(logger.series("train/loss")) == 6
    # Equal batches: the epoch's accuracy is the mean reward (correct final predictions) of its steps.
    (accuracy,) = logger.series("train/acc")
    assert abs(accuracy - sum(rewards) / len(rewards)) < 1e-6


def test_terms_are_skipped_between_written_steps_but_the_last_values_remain():
    trainer, logger = _fit(batches=7, log_every_n_steps=3)
    assert len(logger.series("train/loss")) == 2  # steps 3 and 6
    assert {"train/loss", "train/reward", "train/acc"} <= trainer.callback_metrics.keys()
