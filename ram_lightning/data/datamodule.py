"""The LightningDataModule: base dataset, paper split, canvas variant, loaders."""

from __future__ import annotations

import os
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler

from ram_lightning.data.canvas import CanvasGenerator, Variant
from ram_lightning.data.dataset import CanvasDataset, collate_batch
from ram_lightning.data.samplers import EpochSeededSampler, ShardedEvalSampler
from ram_lightning.data.sources import MNIST_FAMILY, ImageSet, load_mnist_family
from ram_lightning.errors import ConfigError

# Seeds of the fixed evaluation canvases, one per split, so validation and test differ from each other.
VAL_CANVAS_SEED = 1
TEST_CANVAS_SEED = 2


class RAMDataModule(pl.LightningDataModule):
    """Images on canvases for RAM.

    Training uses ``60,000 - val_size`` images of the official training set, validation the other ``val_size``
    (the paper's 50,000 / 10,000 split, drawn with ``split_seed``), test the official 10,000. Batches hold uint8
    canvases until they reach their device, where they become floats in ``[0, 1]``.

    Args:
        data_dir: root directory of the datasets (``<data_dir>/MNIST/raw/...``).
        dataset: ``"mnist"``, ``"fashion_mnist"`` or ``"kmnist"``.
        download: download missing files (needs network access).
        variant: canvas variant, ``"centered"``, ``"translated"`` or ``"cluttered"``.
        canvas_size: canvas side for ``translated`` and ``cluttered`` (paper: 60 or 100).
        num_distractors: clutter pieces per canvas (paper: 4 on 60x60, 8 on 100x100).
        distractor_size: side of a clutter piece (paper: 8).
        batch_size: training batch size.
        eval_batch_size: validation/test/predict batch size (defaults to ``batch_size``).
        num_workers: DataLoader worker processes (``0`` builds batches in the main process, usually fastest here).
        val_size: images held out from the training set for validation.
        split_seed: seed of the train/validation split.
        pin_memory: pin host memory for faster copies to a GPU.
    """

    def __init__(
        self,
        data_dir: str = "data",
        dataset: str = "mnist",
        download: bool = True,
        variant: Variant = "centered",
        canvas_size: int | None = None,
        num_distractors: int = 4,
        distractor_size: int = 8,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        val_size: int = 10_000,
        split_seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if dataset not in MNIST_FAMILY:
            raise ConfigError(f"data.dataset: unknown dataset {dataset!r}; choose one of {sorted(MNIST_FAMILY)}")
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if eval_batch_size is not None and eval_batch_size < 1:
            raise ConfigError(f"data.eval_batch_size must be >= 1, got {eval_batch_size}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        if val_size < 1:
            raise ConfigError(f"data.val_size must be >= 1, got {val_size}")
        self.save_hyperparameters()
        try:
            self.canvas = CanvasGenerator(variant, 28, canvas_size, num_distractors, distractor_size)
        except ValueError as error:
            raise ConfigError(f"data: {error}") from error
        self.train_set: CanvasDataset | None = None
        self.val_set: CanvasDataset | None = None
        self.test_set: CanvasDataset | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return 10

    @property
    def in_channels(self) -> int:
        """Image channels."""
        return 1

    @property
    def image_size(self) -> int:
        """Side of the canvases the model sees."""
        return self.canvas.canvas_size

    def prepare_data(self) -> None:
        """Checks (and, if allowed, downloads) the files once per machine."""
        for train in (True, False):
            self._load(train)

    def setup(self, stage: str | None = None) -> None:
        """Builds the splits needed by ``stage``."""
        if stage in ("fit", "validate", None) and self.val_set is None:
            full = self._load(train=True)
            val_size = self.hparams.val_size
            if val_size >= len(full.labels):
                raise ConfigError(
                    f"data.val_size={val_size} leaves no training images (the set has {len(full.labels)})"
                )
            order = torch.randperm(len(full.labels), generator=torch.Generator().manual_seed(self.hparams.split_seed))
            train_idx, val_idx = order[val_size:], order[:val_size]
            self.train_set = CanvasDataset(full.images[train_idx], full.labels[train_idx], self.canvas)
            self.val_set = CanvasDataset(full.images[val_idx], full.labels[val_idx], self.canvas, VAL_CANVAS_SEED)
        if stage in ("test", "predict", None) and self.test_set is None:
            test = self._load(train=False)
            self.test_set = CanvasDataset(test.images, test.labels, self.canvas, TEST_CANVAS_SEED)

    def train_dataloader(self) -> DataLoader:
        world_size, rank = self._processes()
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        sampler = EpochSeededSampler(self._require(self.train_set), seed, self._current_epoch, world_size, rank)
        return self._loader(self.train_set, self.hparams.batch_size, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self._eval_batch_size, self._eval_sampler(self.val_set))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self._eval_batch_size, self._eval_sampler(self.test_set))

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self._eval_batch_size, self._eval_sampler(self.test_set))

    def on_after_batch_transfer(self, batch: tuple[Tensor, Tensor], dataloader_idx: int) -> tuple[Tensor, Tensor]:
        """uint8 canvases ``(B, C, S, S)`` -> float32 in ``[0, 1]``, on the batch's device."""
        images, labels = batch
        return images.float().div_(255.0), labels

    @property
    def _eval_batch_size(self) -> int:
        return self.hparams.eval_batch_size or self.hparams.batch_size

    def _load(self, train: bool) -> ImageSet:
        return load_mnist_family(self.hparams.dataset, self.hparams.data_dir, train, self.hparams.download)

    def _processes(self) -> tuple[int, int]:
        """``(world_size, global_rank)`` of the attached trainer, ``(1, 0)`` without one."""
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def _current_epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _eval_sampler(self, dataset: CanvasDataset | None) -> Sampler | None:
        """Each process evaluates its own share, every sample exactly once; ``None`` for one process."""
        world_size, rank = self._processes()
        return ShardedEvalSampler(self._require(dataset), world_size, rank) if world_size > 1 else None

    @staticmethod
    def _require(dataset: CanvasDataset | None) -> CanvasDataset:
        if dataset is None:
            raise RuntimeError("RAMDataModule.setup() must run before asking for a dataloader")
        return dataset

    def _loader(self, dataset: CanvasDataset | None, batch_size: int, sampler: Sampler | None) -> DataLoader:
        workers = self.hparams.num_workers
        kwargs: dict[str, Any] = {"persistent_workers": True} if workers > 0 else {}
        return DataLoader(
            self._require(dataset),
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate_batch,
            pin_memory=self.hparams.pin_memory,
            **kwargs,
        )
