"""The LightningDataModule: base dataset, paper split, canvas variant, loaders."""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.accelerators import CUDAAccelerator
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from ram_lightning.data.augmentation import AffineJitter
from ram_lightning.data.canvas import CanvasGenerator, Variant
from ram_lightning.data.dataset import CanvasDataset, collate_batch
from ram_lightning.data.folder import ImageFolderSource
from ram_lightning.data.image_files import ImageFileDataset
from ram_lightning.data.mnist import MNIST_FAMILY, MNISTFamily
from ram_lightning.data.samplers import EpochSeededSampler, ShardedEvalSampler
from ram_lightning.data.sources import ImageSource
from ram_lightning.errors import ConfigError

DATASETS = (*MNIST_FAMILY, "image_folder")
# Seeds of the fixed evaluation canvases, one per split, so validation and test differ from each other.
VAL_CANVAS_SEED = 1
TEST_CANVAS_SEED = 2


class RAMDataModule(pl.LightningDataModule):
    """Images on canvases for RAM.

    Training uses the official training set minus ``val_size`` images, validation those ``val_size`` images (for
    MNIST the paper's 50,000 / 10,000 split, drawn with ``split_seed``), test the official test set. Batches hold
    uint8 canvases until they reach their device, where they become floats in ``[0, 1]``. Validation, test and
    predict batches are ``(images, labels, indices)``: the indices in the split seed each image's Monte-Carlo
    evaluation noise. Prediction runs on the test split, or on the image files of ``predict_dir`` (unlabelled,
    resized to the canvas; see :class:`ImageFileDataset`).

    The data decides the model's input: :attr:`num_classes`, :attr:`in_channels` and :attr:`image_size` (the canvas
    side) are known once the module is built, before any image is read, and the CLI links them to the model.

    Args:
        data_dir: for the MNIST family, the root of the datasets (``<data_dir>/MNIST/raw/...``); for
            ``image_folder``, the folder holding ``train/<class>/<image>`` and ``test/<class>/<image>``.
        dataset: ``"mnist"``, ``"fashion_mnist"``, ``"kmnist"`` or ``"image_folder"``.
        download: download missing files of the MNIST family (needs network access).
        channels: ``image_folder``: ``1`` (grayscale) or ``3`` (RGB, the default); the MNIST family is grayscale.
        resize: ``image_folder``: side the images are resized (shorter side) and centre-cropped to; required.
        variant: canvas variant, ``"centered"``, ``"translated"`` or ``"cluttered"``.
        canvas_size: canvas side for ``translated`` and ``cluttered`` (paper: 60 or 100).
        num_distractors: clutter pieces per canvas (paper: 4 on 60x60, 8 on 100x100).
        distractor_size: side of a clutter piece (paper: 8).
        batch_size: training batch size.
        eval_batch_size: validation/test/predict batch size (defaults to ``batch_size``).
        num_workers: DataLoader worker processes (``0`` builds batches in the main process, usually fastest here).
        val_size: images held out from the training set for validation: a count, or a fraction in ``(0, 1)``.
        split_seed: seed of the train/validation split.
        pin_memory: build batches in page-locked host memory, so that their copy to a GPU runs asynchronously;
            ``None``: when the trainer's accelerator is a CUDA GPU.
        predict_dir: a folder of image files to predict on instead of the test split (the dataset's own files are
            then not needed).
        jitter_degrees: training images only: rotate each by a random angle in ``[-jitter_degrees, jitter_degrees]``
            before it is placed on its canvas (a regulariser; ``0``: off). See :class:`AffineJitter`.
        jitter_scale: training images only: zoom each by a random factor in ``[1 - jitter_scale, 1 + jitter_scale]``.
        jitter_shift: training images only: shift each by up to ``jitter_shift`` pixels along each axis (within its
            own frame, before placement; on the translated and cluttered canvases the placement moves it anyway).
    """

    def __init__(
        self,
        data_dir: str = "data",
        dataset: str = "mnist",
        download: bool = True,
        channels: int | None = None,
        resize: int | None = None,
        variant: Variant = "centered",
        canvas_size: int | None = None,
        num_distractors: int = 4,
        distractor_size: int = 8,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        val_size: int | float = 10_000,
        split_seed: int = 0,
        pin_memory: bool | None = None,
        predict_dir: str | None = None,
        jitter_degrees: float = 0.0,
        jitter_scale: float = 0.0,
        jitter_shift: float = 0.0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if eval_batch_size is not None and eval_batch_size < 1:
            raise ConfigError(f"data.eval_batch_size must be >= 1, got {eval_batch_size}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        fraction = isinstance(val_size, float)
        if (fraction and not 0.0 < val_size < 1.0) or (not fraction and val_size < 1):
            raise ConfigError(f"data.val_size must be a count >= 1 or a fraction in (0, 1), got {val_size}")
        try:
            jitter = AffineJitter(jitter_degrees, jitter_scale, jitter_shift)
        except ValueError as error:  # the message starts with the argument's name
            raise ConfigError(f"data.jitter_{error}") from error
        self.jitter = jitter if jitter.enabled else None
        self.save_hyperparameters()
        self.source = _build_source(dataset, data_dir, download, channels, resize)
        try:
            self.canvas = CanvasGenerator(
                variant, self.source.image_size, canvas_size, num_distractors, distractor_size
            )
        except ValueError as error:  # the message starts with the argument's name
            raise ConfigError(f"data.{error}") from error
        self.train_set: CanvasDataset | None = None
        self.val_set: CanvasDataset | None = None
        self.test_set: CanvasDataset | None = None
        self.predict_set: ImageFileDataset | None = None
        self._random_seed: int | None = None  # the run's shuffling seed when no seed was set

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.source.num_classes

    @property
    def in_channels(self) -> int:
        """Image channels."""
        return self.source.channels

    @property
    def image_size(self) -> int:
        """Side of the canvases the model sees."""
        return self.canvas.canvas_size

    def prepare_data(self) -> None:
        """Checks (extracts, and if allowed downloads) the files once per machine."""
        if not self._predicts_folder():
            self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        """Builds the splits needed by ``stage``."""
        if stage in ("fit", "validate", None) and self.val_set is None:
            full = self.source.load(train=True)
            total = len(full.labels)
            val_size = self.hparams.val_size
            val_count = round(val_size * total) if isinstance(val_size, float) else val_size
            if not 1 <= val_count < total:
                raise ConfigError(
                    f"data.val_size={val_size} leaves no training or no validation images (the training set has "
                    f"{total}); lower it, or give a fraction such as 0.1"
                )
            order = torch.randperm(total, generator=torch.Generator().manual_seed(self.hparams.split_seed))
            train_idx, val_idx = order[val_count:], order[:val_count]
            self.train_set = CanvasDataset(
                full.images[train_idx], full.labels[train_idx], self.canvas, jitter=self.jitter
            )
            val_images, val_labels = full.images[val_idx], full.labels[val_idx]
            self.val_set = CanvasDataset(val_images, val_labels, self.canvas, VAL_CANVAS_SEED, with_indices=True)
        if stage == "predict" and self.hparams.predict_dir is not None:
            if self.predict_set is None:
                self.predict_set = ImageFileDataset(self.hparams.predict_dir, self.in_channels, self.image_size)
        elif stage in ("test", "predict", None) and self.test_set is None:
            test = self.source.load(train=False)
            self.test_set = CanvasDataset(test.images, test.labels, self.canvas, TEST_CANVAS_SEED, with_indices=True)

    def train_dataloader(self) -> DataLoader:
        world_size, rank = self._processes()
        sampler = EpochSeededSampler(self._require(self.train_set), self._seed(), self._current_epoch, world_size, rank)
        return self._loader(self.train_set, self.hparams.batch_size, sampler, sampler.loader_generator())

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self._eval_batch_size, self._eval_sampler(self.val_set))

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self._eval_batch_size, self._eval_sampler(self.test_set))

    def predict_dataloader(self) -> DataLoader:
        dataset = self.test_set if self.hparams.predict_dir is None else self.predict_set
        return self._loader(dataset, self._eval_batch_size, self._eval_sampler(dataset))

    def on_after_batch_transfer(self, batch: tuple[Tensor, ...], dataloader_idx: int) -> tuple[Tensor, ...]:
        """uint8 canvases ``(B, C, S, S)`` -> float32 in ``[0, 1]``, on the batch's device; labels ``(B,)`` (and the
        evaluation batches' indices ``(B,)``) unchanged."""
        images, *rest = batch
        return images.float().div_(255.0), *rest

    @property
    def _eval_batch_size(self) -> int:
        return self.hparams.eval_batch_size or self.hparams.batch_size

    def _processes(self) -> tuple[int, int]:
        """``(world_size, global_rank)`` of the attached trainer, ``(1, 0)`` without one."""
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def _predicts_folder(self) -> bool:
        """The attached trainer predicts on the image files of ``predict_dir``."""
        predicting = self.trainer is not None and self.trainer.state.fn == TrainerFn.PREDICTING
        return predicting and self.hparams.predict_dir is not None

    def _seed(self) -> int:
        """The run's seed (``seed_everything``); without one, a random seed drawn once per run and shared by every
        process, so that runs without a seed differ from each other."""
        if "PL_GLOBAL_SEED" in os.environ:
            return int(os.environ["PL_GLOBAL_SEED"])
        if self._random_seed is None:
            seed = secrets.randbits(31)
            self._random_seed = seed if self.trainer is None else self.trainer.strategy.broadcast(seed, src=0)
            rank_zero_info(f"No seed_everything: the training data is shuffled with random seed {self._random_seed}")
        return self._random_seed

    def _current_epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _eval_sampler(self, dataset: Dataset | None) -> Sampler | None:
        """Each process evaluates its own share, every sample exactly once; ``None`` for one process."""
        world_size, rank = self._processes()
        return ShardedEvalSampler(self._require(dataset), world_size, rank) if world_size > 1 else None

    @staticmethod
    def _require(dataset: Dataset | None) -> Dataset:
        if dataset is None:
            raise RuntimeError("RAMDataModule.setup() must run before asking for a dataloader")
        return dataset

    def _pin_memory(self) -> bool:
        """``pin_memory``, or when unset, whether the attached trainer runs on a CUDA GPU."""
        if self.hparams.pin_memory is not None:
            return self.hparams.pin_memory
        return self.trainer is not None and isinstance(self.trainer.accelerator, CUDAAccelerator)

    def _loader(
        self,
        dataset: Dataset | None,
        batch_size: int,
        sampler: Sampler | None,
        generator: torch.Generator | None = None,
    ) -> DataLoader:
        workers = self.hparams.num_workers
        kwargs: dict[str, Any] = {"persistent_workers": True} if workers > 0 else {}
        return DataLoader(
            self._require(dataset),
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate_batch,
            pin_memory=self._pin_memory(),
            generator=generator,
            **kwargs,
        )


def _build_source(dataset: str, data_dir: str, download: bool, channels: int | None, resize: int | None) -> ImageSource:
    """The base dataset named by ``data.dataset``; checks the options that depend on it."""
    if dataset not in DATASETS:
        raise ConfigError(f"data.dataset: unknown dataset {dataset!r}; choose one of {list(DATASETS)}")
    if dataset == "image_folder":
        if resize is None or resize < 1:
            raise ConfigError(f"data.resize must be set to an image side >= 1 for an image folder, got {resize}")
        channels = 3 if channels is None else channels
        if channels not in (1, 3):
            raise ConfigError(f"data.channels must be 1 (grayscale) or 3 (RGB), got {channels}")
        return ImageFolderSource(data_dir, channels, resize)
    source = MNISTFamily(dataset, data_dir, download)
    if channels not in (None, source.channels):
        raise ConfigError(f"data.channels: {dataset} is grayscale, so channels must be 1 or unset, got {channels}")
    if resize not in (None, source.image_size):
        raise ConfigError(
            f"data.resize applies to image folders; {dataset} images are {source.image_size}x{source.image_size} "
            f"(unset it, and use data.variant/canvas_size to place them on a larger canvas), got {resize}"
        )
    return source
