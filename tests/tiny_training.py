"""A tiny RAMSystem, synthetic data and small helpers for fast callback tests (a Trainer epoch takes milliseconds)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from ram_lightning.system import RAMSystem

IMAGE_SIZE = 16
NUM_CLASSES = 4
TINY_MODEL: dict[str, Any] = {
    "num_classes": NUM_CLASSES,
    "image_size": IMAGE_SIZE,
    "num_glimpses": 3,
    "patch_size": 4,
    "glimpse_hidden": 8,
    "location_hidden": 8,
    "glimpse_size": 16,
    "hidden_size": 16,
    "std": 0.2,
}


def tiny_system(**overrides: Any) -> RAMSystem:
    """A RAMSystem on 16x16 images with 4 classes, 3 glimpses and 16 hidden units."""
    torch.manual_seed(0)
    return RAMSystem(**{**TINY_MODEL, **overrides})


def toy_images(count: int, seed: int) -> tuple[Tensor, Tensor]:
    """``count`` images ``(N, 1, 16, 16)``: a bright 4x4 square in the quadrant given by the label ``(N,)``."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (count,), generator=generator)
    images = 0.2 * torch.rand(count, 1, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    offsets = torch.randint(0, 4, (count, 2), generator=generator)
    for i in range(count):
        top = 8 * (int(labels[i]) // 2) + int(offsets[i, 0])
        left = 8 * (int(labels[i]) % 2) + int(offsets[i, 1])
        images[i, :, top : top + 4, left : left + 4] = 1.0
    return images, labels


class ToyData(pl.LightningDataModule):
    """Synthetic training and validation sets of :func:`toy_images`; validation is never shuffled."""

    def __init__(self, batch_size: int = 16, num_train: int = 96, num_val: int = 32) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.train = TensorDataset(*toy_images(num_train, seed=1))
        self.val = TensorDataset(*toy_images(num_val, seed=2))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.batch_size, shuffle=False)


class MemoryLogger(Logger):
    """Keeps every ``log_metrics`` call in ``records`` as ``(step, metrics)``."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[int | None, dict[str, float]]] = []

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.records.append((step, dict(metrics)))

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def series(self, key: str) -> list[float]:
        """Every logged value of ``key``, in order."""
        return [metrics[key] for _, metrics in self.records if key in metrics]


class ScriptedMetric(pl.Callback):
    """Logs ``values[epoch]`` as ``name`` after each validation (a metric whose course the test decides)."""

    def __init__(self, values: list[float], name: str = "scripted/acc") -> None:
        self.values = values
        self.name = name

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            pl_module.log(self.name, self.values[trainer.current_epoch])


def tiny_trainer(root: Any, callbacks: list[pl.Callback], max_epochs: int, logger: Any = False, **kwargs: Any):
    """A quiet CPU Trainer: 2 training batches and 1 validation batch per epoch, no sanity check."""
    settings: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": max_epochs,
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "num_sanity_val_steps": 0,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "log_every_n_steps": 1,
        "logger": logger,
        "default_root_dir": str(root),
        "callbacks": callbacks,
    }
    settings.update(kwargs)
    return pl.Trainer(**settings)
