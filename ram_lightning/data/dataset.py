"""A map-style dataset that builds whole batches of canvases in one call."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ram_lightning.data.augmentation import AffineJitter
from ram_lightning.data.canvas import CanvasGenerator, Placement


class CanvasDataset(Dataset):
    """Images of one split placed on canvases, fetched a batch at a time.

    The DataLoader calls :meth:`__getitems__` with a batch of indices: the batch is indexed out of the in-memory
    tensors and its canvases rendered in a few tensor operations. Samples stay uint8 until the batch reaches its
    device (see ``RAMDataModule.on_after_batch_transfer``).

    Training canvases get a fresh random placement (and, with ``jitter``, a freshly jittered image) every time a
    sample is drawn. Evaluation canvases
    (``fixed_seed`` given) are placed once, from that seed, so they are identical every epoch and run, whatever the
    batch size, the number of workers or of processes. Evaluation batches also carry the samples' indices
    (``with_indices``), which seed each image's Monte-Carlo evaluation noise.

    Args:
        images: ``(N, C, H, W)`` uint8 images of the split.
        labels: ``(N,)`` int64 labels.
        canvas: the canvas variant.
        fixed_seed: seed of the fixed placements for evaluation; ``None`` draws new placements on every access.
        with_indices: samples and batches end with their indices in the split (``(B,)`` int64 for a batch).
        jitter: random affine jitter of each image before it is placed (training only: not with ``fixed_seed``).
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        canvas: CanvasGenerator,
        fixed_seed: int | None = None,
        with_indices: bool = False,
        jitter: AffineJitter | None = None,
    ) -> None:
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        if canvas.num_distractors > 0 and images.shape[0] < 2:
            raise ValueError(f"the cluttered variant needs at least 2 images in a split, got {images.shape[0]}")
        if jitter is not None and fixed_seed is not None:
            raise ValueError("jitter is for training canvases: the fixed evaluation canvases (fixed_seed) never are")
        self.images = images
        self.labels = labels
        self.canvas = canvas
        self.with_indices = with_indices
        self.jitter = jitter
        self.fixed: Placement | None = None
        if fixed_seed is not None:
            generator = torch.Generator().manual_seed(fixed_seed)
            every = torch.arange(len(labels))
            self.fixed = canvas.draw(len(labels), every, len(labels), generator)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        """One sample: canvas ``(C, S, S)`` uint8, label ``()`` (and index ``()`` if ``with_indices``)."""
        return tuple(part[0] for part in self.__getitems__([index]))

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, ...]:
        """A batch: canvases ``(B, C, S, S)`` uint8, labels ``(B,)`` (and indices ``(B,)`` if ``with_indices``)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        if self.fixed is not None:
            placement = self.fixed.select(index)
        else:
            placement = self.canvas.draw(len(index), index, len(self.labels))
        images = self.images[index]
        if self.jitter is not None:
            images = self.jitter(images)
        canvases = self.canvas.render(images, placement, self.images)
        return (canvases, self.labels[index], index) if self.with_indices else (canvases, self.labels[index])


def collate_batch(batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Collate function for :class:`CanvasDataset`: its batches arrive already stacked."""
    return batch
